"""fer_core.device: the CPU's instruction sets that decide int8 inference and bfloat16 training speed."""
from __future__ import annotations

import pytest

from fer_core.device import cpu_features, cpu_flags, cpu_has_bf16

AVX2_ONLY = frozenset({"sse2", "avx", "avx2", "fma"})
VNNI_BF16 = AVX2_ONLY | {"avx512f", "avx512_vnni", "avx512_bf16"}


@pytest.mark.parametrize("flags, text, bf16", [
    (AVX2_ONLY, "8-bit dot products: none; bfloat16: none; AVX2: yes", False),
    (VNNI_BF16, "8-bit dot products: AVX-512 VNNI; bfloat16: AVX-512 BF16; AVX2: yes", True),
    (frozenset({"avx_vnni", "amx_int8", "amx_bf16", "avx2"}),
     "8-bit dot products: AVX-VNNI, AMX-INT8; bfloat16: AMX-BF16; AVX2: yes", True),
    (frozenset(), "8-bit dot products: none; bfloat16: none; AVX2: no", False),
])
def test_cpu_features_names_the_instructions_present(flags, text, bf16):
    assert cpu_features(flags) == text
    assert cpu_has_bf16(flags) is bf16


def test_this_machines_flags_are_read_where_linux_has_them():
    flags = cpu_flags()
    try:
        open("/proc/cpuinfo").close()
    except OSError:
        assert flags is None and cpu_has_bf16() is None
        return
    assert flags and cpu_features().startswith("8-bit dot products: ")
