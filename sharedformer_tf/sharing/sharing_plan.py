"""`SharingPlan`: which parameter group serves each depth of a stack.

Pure Python on purpose: plans are built, validated, printed and serialized
without importing TensorFlow.
"""

STRATEGIES = ("none", "all", "sequence", "cycle", "cycle_rev", "sandwich")
SCOPES = ("block", "attention", "ffn")

# Strategies whose number of groups follows from `num_layers` alone.
_IMPLIED = {
    "none": lambda n: n,
    "all": lambda n: 1,
    "sandwich": lambda n: min(n, 3),
}


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_groups(strategy, num_layers, groups, field):
    if groups > num_layers:
        raise ValueError(
            f"`{field}` cannot exceed `num_layers`. Received: "
            f"{field}={groups}, num_layers={num_layers}"
        )
    if strategy == "sequence" and num_layers % groups:
        raise ValueError(
            f"Strategy 'sequence' needs `num_layers` divisible by `{field}`. "
            f"Received: num_layers={num_layers}, {field}={groups}"
        )


class SharingPlan:
    """Maps each depth of a Transformer stack to a parameter group.

    Depth `d` of a stack calls the sublayer instance of group
    `plan.assignments[d]`; depths with equal groups share their parameters.
    With `M = num_unique` groups over `N = num_layers` depths:

    - `"none"`: every depth its own group (`M = N`), the plain Transformer.
    - `"all"`: one group everywhere (`M = 1`), as in ALBERT and the
      Universal Transformer.
    - `"sequence"`: `AABBCC`, depth `i` -> `i // (N / M)`; `N % M == 0`.
    - `"cycle"`: `ABCABC`, depth `i` -> `i % M` (Takase & Kiyono, 2021).
    - `"cycle_rev"`: `cycle` for the first `N - M` depths, then the last `M`
      depths in reverse group order, e.g. `ABCCBA` (Takase & Kiyono, 2021).
    - `"sandwich"`: first and last depths unique, the middle depths share one
      group (Subformer), e.g. `ABBBBC`.

    `scope` says which sublayers follow the plan: `"block"` shares attention
    and feed-forward, `"attention"` shares only attention (feed-forward is
    unique per depth), `"ffn"` shares only the feed-forward network.
    `num_unique_ffn` gives the feed-forward networks their own number of
    groups under the same strategy (scope `"block"` only), e.g. attention
    `ABCCBA` with feed-forward `ABABBA`.

    Args:
        num_layers: int. Number of depths `N`, at least 1.
        num_unique: int or `None`. Number of parameter groups `M`. Required
            for `"sequence"`, `"cycle"` and `"cycle_rev"`; implied (leave as
            `None`) for `"none"`, `"all"` and `"sandwich"`.
        strategy: str. One of `"none"`, `"all"`, `"sequence"`, `"cycle"`,
            `"cycle_rev"`, `"sandwich"`.
        scope: str. One of `"block"`, `"attention"`, `"ffn"`.
        num_unique_ffn: int or `None`. Number of feed-forward groups when it
            differs from `num_unique`; only for `"sequence"`, `"cycle"` and
            `"cycle_rev"` with scope `"block"`.

    Example:

    >>> plan = SharingPlan(6, 3, strategy="cycle_rev")
    >>> plan.assignments
    (0, 1, 2, 2, 1, 0)
    >>> SharingPlan(6, strategy="sandwich").assignments
    (0, 1, 1, 1, 1, 2)
    >>> SharingPlan(6, 3, "cycle_rev", num_unique_ffn=2).feed_forward_assignments
    (0, 1, 0, 1, 1, 0)
    """

    def __init__(
        self, num_layers, num_unique=None, strategy="cycle", scope="block", num_unique_ffn=None
    ):
        if not _is_int(num_layers) or num_layers < 1:
            raise ValueError(
                f"`num_layers` must be an integer >= 1. Received: num_layers={num_layers!r}"
            )
        if strategy not in STRATEGIES:
            raise ValueError(
                f"Unknown sharing strategy. Expected one of {STRATEGIES}. "
                f"Received: strategy={strategy!r}"
            )
        if scope not in SCOPES:
            raise ValueError(
                f"Unknown sharing scope. Expected one of {SCOPES}. Received: scope={scope!r}"
            )
        if num_unique is not None and (not _is_int(num_unique) or num_unique < 1):
            raise ValueError(
                f"`num_unique` must be None or an integer >= 1. Received: num_unique={num_unique!r}"
            )
        if strategy in _IMPLIED:
            implied = _IMPLIED[strategy](num_layers)
            if num_unique is not None and num_unique != implied:
                raise ValueError(
                    f"Strategy {strategy!r} implies num_unique={implied} for "
                    f"num_layers={num_layers}; leave `num_unique` as None. "
                    f"Received: num_unique={num_unique}"
                )
        else:
            if num_unique is None:
                raise ValueError(
                    f"Strategy {strategy!r} needs `num_unique`. "
                    f"Received: num_unique=None, num_layers={num_layers}"
                )
            _check_groups(strategy, num_layers, num_unique, "num_unique")
        if num_unique_ffn is not None:
            if strategy in _IMPLIED or scope != "block":
                raise ValueError(
                    "`num_unique_ffn` needs strategy 'sequence', 'cycle' or "
                    "'cycle_rev' and scope 'block'. Received: "
                    f"num_unique_ffn={num_unique_ffn!r}, strategy={strategy!r}, "
                    f"scope={scope!r}"
                )
            if not _is_int(num_unique_ffn) or num_unique_ffn < 1:
                raise ValueError(
                    "`num_unique_ffn` must be None or an integer >= 1. "
                    f"Received: num_unique_ffn={num_unique_ffn!r}"
                )
            _check_groups(strategy, num_layers, num_unique_ffn, "num_unique_ffn")
        self.num_layers = num_layers
        self.num_unique = num_unique
        self.strategy = strategy
        self.scope = scope
        self.num_unique_ffn = num_unique_ffn
        self._assignments = self._assign(num_unique)
        self._ffn_assignments = self._assignments
        if num_unique_ffn is not None:
            self._ffn_assignments = self._assign(num_unique_ffn)

    def _assign(self, m):
        n = self.num_layers
        if self.strategy == "none":
            return tuple(range(n))
        if self.strategy == "all":
            return (0,) * n
        if self.strategy == "sequence":
            return tuple(i // (n // m) for i in range(n))
        if self.strategy == "cycle":
            return tuple(i % m for i in range(n))
        if self.strategy == "cycle_rev":
            head = tuple(i % m for i in range(n - m))
            return head + tuple(reversed(range(m)))
        # sandwich
        if n <= 2:
            return tuple(range(n))
        return (0,) + (1,) * (n - 2) + (2,)

    @property
    def assignments(self):
        """Tuple of `num_layers` ints: the group of each depth."""
        return self._assignments

    @property
    def num_groups(self):
        """Number of distinct groups `M` of `assignments`, the strategy's
        pattern: the groups of whatever the scope shares (attention and
        feed-forward for `"block"`, attention only for `"attention"`, the
        feed-forward networks only for `"ffn"`). With `num_unique_ffn` the
        feed-forward networks have that many groups instead
        (`feed_forward_assignments`)."""
        return len(set(self._assignments))

    @property
    def attention_assignments(self):
        """Group of the attention sublayers at each depth (scope applied)."""
        if self.scope == "ffn":
            return tuple(range(self.num_layers))
        return self._assignments

    @property
    def feed_forward_assignments(self):
        """Group of the feed-forward sublayer at each depth (scope applied)."""
        if self.scope == "attention":
            return tuple(range(self.num_layers))
        return self._ffn_assignments

    def assignments_of(self, kind):
        """Group of the `kind` sublayer at each depth: `"self_attention"` and
        `"cross_attention"` follow `attention_assignments`, `"feed_forward"`
        follows `feed_forward_assignments`, `"block"` is `assignments`."""
        table = {
            "block": self._assignments,
            "attention": self.attention_assignments,
            "self_attention": self.attention_assignments,
            "cross_attention": self.attention_assignments,
            "feed_forward": self.feed_forward_assignments,
        }
        if kind not in table:
            raise ValueError(f"Expected kind in {tuple(table)}. Received: kind={kind!r}")
        return table[kind]

    def owner(self, depth, kind):
        """The depth that owns the `kind` sublayer used at `depth`: the first
        depth of its group. This is the one rule of the library: the owner
        builds the sublayer, every later depth of the group is handed the
        same instance.

        Example:

        >>> plan = SharingPlan(6, 3, strategy="cycle_rev")  # A B C C B A
        >>> [plan.owner(depth, "feed_forward") for depth in range(6)]
        [0, 1, 2, 2, 1, 0]
        """
        groups = self.assignments_of(kind)
        return groups.index(groups[depth])

    def group_owner(self, group, kind):
        """The depth that owns group `group` of the `kind` sublayer (its first
        depth): where a stack tied to this plan's stack finds the instance."""
        return self.assignments_of(kind).index(group)

    def depths_of(self, group, kind="block"):
        """Depths that use `group`, for `kind` in `"block"`, `"attention"`,
        `"feed_forward"`."""
        return tuple(d for d, g in enumerate(self.assignments_of(kind)) if g == group)

    def replace(
        self, num_layers=None, num_unique=None, strategy=None, scope=None, num_unique_ffn=None
    ):
        """A new plan with the given fields changed (`None` keeps a field).

        A strategy that needs `num_unique` keeps this plan's value unless one
        is given; strategies that imply it (`none`, `all`, `sandwich`) drop
        it. `num_unique_ffn` is kept only while strategy, `num_unique` and
        scope stay as they are. The result is validated like any plan.

        Example:

        >>> SharingPlan(6, 3, "cycle_rev").replace(num_layers=9).assignments
        (0, 1, 2, 0, 1, 2, 2, 1, 0)
        """
        strategy = strategy or self.strategy
        scope = scope or self.scope
        regrouped = (num_unique, strategy, scope) != (None, self.strategy, self.scope)
        if num_unique is None and strategy not in _IMPLIED:
            num_unique = self.num_unique
        if num_unique_ffn is None and not regrouped:
            num_unique_ffn = self.num_unique_ffn
        num_layers = num_layers or self.num_layers
        return SharingPlan(num_layers, num_unique, strategy, scope, num_unique_ffn)

    def get_config(self):
        return {
            "num_layers": self.num_layers,
            "num_unique": self.num_unique,
            "strategy": self.strategy,
            "scope": self.scope,
            "num_unique_ffn": self.num_unique_ffn,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def coerce(cls, value):
        """Returns `value` as a `SharingPlan` (accepts a plan or its config)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            return cls.from_config(value)
        raise TypeError(
            "Expected a `SharingPlan` or its config dict. "
            f"Received: plan={value!r} of type {type(value).__name__}"
        )

    def __eq__(self, other):
        if not isinstance(other, SharingPlan):
            return NotImplemented
        return self.get_config() == other.get_config()

    def __hash__(self):
        return hash(tuple(sorted(self.get_config().items())))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"SharingPlan({args})"

    def __str__(self):
        def letters(assignments):
            return "".join(chr(ord("A") + g) if g < 26 else f"[{g}]" for g in assignments)

        text = f"{self.strategy} {letters(self._assignments)}"
        if self.num_unique_ffn is None:
            groups = f"{self.num_groups} groups"
        else:
            text += f" ffn {letters(self._ffn_assignments)}"
            groups = f"{self.num_groups} + {len(set(self._ffn_assignments))} ffn groups"
        return f"{text} ({groups} over {self.num_layers} depths, scope={self.scope})"
