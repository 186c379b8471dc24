"""``python -m fer_core.teacher``: a teacher's saved probabilities for distillation off TensorFlow (``fer_core.training.teacher_cli``)."""
import sys

from .training.teacher_cli import main

if __name__ == "__main__":
    sys.exit(main())
