"""Build the project's real-photo validation set (issue 23) from public repositories fetched as bare git snapshots.

    python benchmarks/realphoto_set.py --out DIR --webmorph GITDIR [--max GITDIR] [--yale GITDIR]

Writes ``DIR/<source>/<class>/<photo>`` for ``benchmarks/bench_photo_pipeline.py``. Nothing is committed to this
repository: the photos stay where ``--out`` puts them, and each source keeps its own licence.

| source | repository, path | licence | classes |
|---|---|---|---|
| ``london`` | debruine/webmorphR.stim ``inst/neutral_front/*_03.jpg``, ``inst/smiling_front/*_08.jpg`` (Face Research Lab London Set, DeBruine & Jones 2017, doi:10.6084/m9.figshare.5047666.v5) | CC BY 4.0 | neutral 102, happy 102 (the same people; posed, some smiles closed-mouthed) |
| ``canada`` | debruine/webmorphR.stim ``inst/canada/*.jpg`` (doi:10.6084/m9.figshare.4220517.v1) | CC BY 4.0 | neutral 40 (passport-style) |
| ``pexels`` | IBM MAX-Facial-Emotion-Classifier (fork ahn-github/...) ``assets/*.jp*g`` | CC0 / Pexels licence | 1 each of angry, happy, neutral, sad, surprise |
| ``yale`` | the Yale Face Database (Belhumeur et al. 1997; e.g. leecarraher/pattern_recognition ``yalefaces/``) | research use only, no redistribution | happy 15, neutral 15, sad 14, surprise 15 |

No licence-clean public source with disgust or fear photos was found; FER2013's PrivateTest, JAFFE and the
muxspace/facial_expressions photos are kept back by the project and never used here.
"""
from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

PEXELS = {"angry.jpg": "angry", "happy-baby.jpeg": "happy", "neutral.jpeg": "neutral", "sad-baby.jpeg": "sad",
          "surprised.jpeg": "surprise"}
YALE = {"happy": "happy", "normal": "neutral", "sad": "sad", "surprised": "surprise"}


def _files(git_dir: Path, prefix: str) -> list[str]:
    out = subprocess.run(["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", "HEAD", prefix],
                         check=True, capture_output=True, text=True).stdout
    return [p for p in out.splitlines() if not Path(p).name.startswith("._")]


def _blob(git_dir: Path, path: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(git_dir), "show", f"HEAD:{path}"], check=True,
                          capture_output=True).stdout


def _write(data: bytes, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:  # GIF (Yale): OpenCV reads no GIFs
        import io

        image = cv2.cvtColor(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(dest.with_suffix(".png" if dest.suffix.lower() not in (".jpg", ".jpeg") else dest.suffix)), image)


def build(out: Path, webmorph: Path, max_assets: Path | None = None, yale: Path | None = None) -> dict[str, int]:
    counts: dict[str, int] = {}

    def put(source: str, label: str, data: bytes, name: str) -> None:
        _write(data, out / source / label / name)
        counts[f"{source}/{label}"] = counts.get(f"{source}/{label}", 0) + 1

    for folder, suffix, label in (("inst/neutral_front", "_03.jpg", "neutral"), ("inst/smiling_front", "_08.jpg", "happy")):
        for p in _files(webmorph, folder):
            if p.endswith(suffix):
                put("london", label, _blob(webmorph, p), Path(p).name)
    for p in _files(webmorph, "inst/canada"):
        if p.lower().endswith(".jpg"):
            put("canada", "neutral", _blob(webmorph, p), Path(p).name)
    if max_assets:
        for p in _files(max_assets, "assets"):
            if Path(p).name in PEXELS:
                put("pexels", PEXELS[Path(p).name], _blob(max_assets, p), Path(p).name)
    if yale:
        for p in _files(yale, "yalefaces"):
            subject, _, kind = Path(p).name.partition(".")
            if kind in YALE and not (subject == "subject04" and kind == "sad"):  # its Readme: a copy of .normal
                put("yale", YALE[kind], _blob(yale, p), f"{subject}_{kind}.png")
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--webmorph", type=Path, required=True, help="bare git dir of debruine/webmorphR.stim")
    ap.add_argument("--max", type=Path, help="bare git dir of (a fork of) IBM/MAX-Facial-Emotion-Classifier")
    ap.add_argument("--yale", type=Path, help="bare git dir holding yalefaces/ (research use only)")
    args = ap.parse_args()
    for k, v in sorted(build(args.out, args.webmorph, args.max, args.yale).items()):
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
