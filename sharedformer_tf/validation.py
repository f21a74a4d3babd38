"""Argument checks shared by configs and layers. Pure Python."""


def check_positive_int(**named):
    """Raises `ValueError` naming the first argument that is not an int >= 1
    (bools are rejected too)."""
    for name, value in named.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


def check_non_negative_int(**named):
    """Raises `ValueError` naming the first argument that is not an int >= 0
    (bools are rejected too)."""
    for name, value in named.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"`{name}` must be an integer >= 0. Received: {name}={value!r}")


def check_rate(**named):
    """Raises `ValueError` naming the first argument not in `[0, 1)`."""
    for name, value in named.items():
        if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise ValueError(f"`{name}` must be in [0, 1). Received: {name}={value!r}")


def check_heads(hidden_dim, num_heads):
    """Raises `ValueError` unless `num_heads` divides `hidden_dim`."""
    if hidden_dim % num_heads:
        raise ValueError(
            "`hidden_dim` must be divisible by `num_heads`. Received: "
            f"hidden_dim={hidden_dim}, num_heads={num_heads}"
        )
