"""NumPy references that tests compute expected values with."""

import numpy as np


def log_softmax(logits):
    """Log-softmax over the last axis, in the dtype given (use float64)."""
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def kl_divergence(teacher_logits, student_logits):
    """KL(softmax(teacher) || softmax(student)) over the last axis."""
    teacher, student = log_softmax(teacher_logits), log_softmax(student_logits)
    return (np.exp(teacher) * (teacher - student)).sum(-1)
