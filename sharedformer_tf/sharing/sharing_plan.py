"""`SharingPlan`: which parameter group serves each depth of a stack.

Pure Python on purpose: plans are built, validated, printed and serialized
without importing TensorFlow.
"""

STRATEGIES = ("none", "all", "sequence", "cycle", "cycle_rev", "sandwich")
SCOPES = ("block", "attention", "ffn")
# The sublayer kinds a plan assigns to groups. "attention" names both
# attention kinds where assignments are given.
KINDS = ("self_attention", "cross_attention", "feed_forward")
CUSTOM = "custom"  # the strategy of a plan given only by explicit assignments

# Strategies whose number of groups follows from `num_layers` alone.
_IMPLIED = {
    "none": lambda n: n,
    "all": lambda n: 1,
    "sandwich": lambda n: min(n, 3),
}


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _alias(value, old_value, name, old_name):
    """`value`, or the same number under its former name (`num_unique`)."""
    if old_value is None:
        return value
    if value is not None and value != old_value:
        raise ValueError(
            f"`{old_name}` is the former name of `{name}`; they differ. "
            f"Received: {name}={value!r}, {old_name}={old_value!r}"
        )
    return old_value


def _letters(assignments):
    return "".join(chr(ord("A") + g) if g < 26 else f"[{g}]" for g in assignments)


def _parse_assignments(assignments):
    """`{kind: groups}` with groups as ints or letters ("ABCCBA") -> `{kind:
    tuple}`, groups renumbered in order of first use (B A A B -> 0 1 1 0)."""
    if assignments is None:
        return {}
    if not isinstance(assignments, dict):
        raise TypeError(
            "`assignments` must be a dict of sublayer kind -> groups. "
            f"Received: assignments of type {type(assignments).__name__}"
        )
    parsed = {}
    for kind, groups in assignments.items():
        kinds = ("self_attention", "cross_attention") if kind == "attention" else (kind,)
        if kinds[0] not in KINDS:
            raise ValueError(
                f"Unknown sublayer kind in `assignments`. Expected some of {KINDS} or "
                f"'attention'. Received: {kind!r}"
            )
        if isinstance(groups, str):
            if not groups.isalpha() or not groups.isupper():
                raise ValueError(f"Letters A-Z name groups. Received: {kind}={groups!r}")
            groups = [ord(c) - ord("A") for c in groups]
        groups = list(groups)
        if not groups or not all(_is_int(g) and g >= 0 for g in groups):
            raise ValueError(
                f"Assignments must be non-empty sequences of group ids >= 0 (or letters). "
                f"Received: {kind}={groups!r}"
            )
        order = {}
        for g in groups:
            order.setdefault(g, len(order))
        for each in kinds:
            parsed[each] = tuple(order[g] for g in groups)
    return parsed


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
    """Maps each depth of a Transformer stack to a parameter group, for each
    sublayer kind: `"self_attention"`, `"cross_attention"` (decoders) and
    `"feed_forward"`.

    Depth `d` calls the `kind` sublayer instance of group
    `plan.assignments_of(kind)[d]`; depths with equal groups share its
    parameters. A plan is written either with a strategy (the shorthand), or
    with explicit assignments per kind, or both (explicit kinds override the
    strategy's). With `M = num_groups` groups over `N = num_layers` depths:

    - `"none"`: every depth its own group (`M = N`), the plain Transformer.
    - `"all"`: one group everywhere (`M = 1`), as in ALBERT and the
      Universal Transformer.
    - `"sequence"`: `AABBCC`, depth `i` -> `i // (N / M)`; `N % M == 0`.
    - `"cycle"`: `ABCABC`, depth `i` -> `i % M` (Takase & Kiyono, 2021).
    - `"cycle_rev"`: `cycle` for the first `N - M` depths, then the last `M`
      depths in reverse group order, e.g. `ABCCBA` (Takase & Kiyono, 2021).
    - `"sandwich"`: first and last depths unique, the middle depths share one
      group (Subformer), e.g. `ABBBBC`.
    - `"custom"`: only the explicit `assignments` (kinds not given are
      unshared, cross-attention follows self-attention).

    `scope` says which sublayers follow the strategy: `"block"` all of them,
    `"attention"` only attention (feed-forward unique per depth), `"ffn"`
    only the feed-forward network. `num_groups_ffn` gives the feed-forward
    networks their own number of groups under the same strategy (scope
    `"block"` only), e.g. attention `ABCCBA` with feed-forward `ABABBA`.
    Cross-attention follows self-attention unless assigned explicitly.

    Args:
        num_layers: int. Number of depths `N`, at least 1 (default: the
            length of the explicit assignments).
        num_groups: int or `None`. Number of parameter groups `M` (ALBERT's
            `num_hidden_groups`; the apps' `--groups`, formerly `num_unique`
            and `--unique`, which are still accepted). Required for
            `"sequence"`, `"cycle"` and `"cycle_rev"`; implied (leave as
            `None`) for `"none"`, `"all"` and `"sandwich"`.
        strategy: str. One of `"none"`, `"all"`, `"sequence"`, `"cycle"`,
            `"cycle_rev"`, `"sandwich"`, `"custom"`.
        scope: str. One of `"block"`, `"attention"`, `"ffn"`.
        num_groups_ffn: int or `None`. Number of feed-forward groups when it
            differs from `num_groups` (formerly `num_unique_ffn`); only for
            `"sequence"`, `"cycle"` and `"cycle_rev"` with scope `"block"`.
        assignments: dict or `None`. Explicit groups per kind (`KINDS`, or
            `"attention"` for both attention kinds): a sequence of `N` group
            ids or a string of letters, e.g. `{"cross_attention": "AAAA"}`.
            Groups are renumbered in order of first use.

    Example:

    >>> plan = SharingPlan(6, 3, strategy="cycle_rev")
    >>> plan.assignments
    (0, 1, 2, 2, 1, 0)
    >>> SharingPlan(6, strategy="sandwich").assignments
    (0, 1, 1, 1, 1, 2)
    >>> SharingPlan(6, 3, "cycle_rev", num_groups_ffn=2).feed_forward_assignments
    (0, 1, 0, 1, 1, 0)
    >>> plan = SharingPlan(strategy="custom", assignments={
    ...     "self_attention": "ABCCBA", "feed_forward": "ABABBA", "cross_attention": "AAAAAA"})
    >>> print(plan)
    custom self_attention ABCCBA, cross_attention AAAAAA, feed_forward ABABBA (6 depths)
    """

    def __init__(
        self,
        num_layers=None,
        num_groups=None,
        strategy="cycle",
        scope="block",
        num_groups_ffn=None,
        assignments=None,
        *,
        num_unique=None,
        num_unique_ffn=None,
    ):
        num_groups = _alias(num_groups, num_unique, "num_groups", "num_unique")
        num_groups_ffn = _alias(num_groups_ffn, num_unique_ffn, "num_groups_ffn", "num_unique_ffn")
        explicit = _parse_assignments(assignments)
        if strategy == CUSTOM and (not explicit or num_groups or num_groups_ffn):
            raise ValueError(
                "Strategy 'custom' takes only `assignments`. Received: "
                f"assignments={assignments!r}, num_groups={num_groups!r}, "
                f"num_groups_ffn={num_groups_ffn!r}"
            )
        lengths = {len(groups) for groups in explicit.values()}
        if num_layers is None and len(lengths) == 1:
            num_layers = lengths.pop()
        if not _is_int(num_layers) or num_layers < 1:
            raise ValueError(
                f"`num_layers` must be an integer >= 1. Received: num_layers={num_layers!r}"
            )
        if any(len(groups) != num_layers for groups in explicit.values()):
            raise ValueError(
                "Every explicit assignment needs one group per depth. Received: "
                f"num_layers={num_layers}, assignments="
                + ", ".join(f"{k}={_letters(v)}" for k, v in explicit.items())
            )
        if strategy not in STRATEGIES and strategy != CUSTOM:
            raise ValueError(
                f"Unknown sharing strategy. Expected one of {STRATEGIES + (CUSTOM,)}. "
                f"Received: strategy={strategy!r}"
            )
        if scope not in SCOPES:
            raise ValueError(
                f"Unknown sharing scope. Expected one of {SCOPES}. Received: scope={scope!r}"
            )
        if num_groups is not None and (not _is_int(num_groups) or num_groups < 1):
            raise ValueError(
                f"`num_groups` must be None or an integer >= 1. Received: num_groups={num_groups!r}"
            )
        if strategy in _IMPLIED:
            implied = _IMPLIED[strategy](num_layers)
            if num_groups is not None and num_groups != implied:
                raise ValueError(
                    f"Strategy {strategy!r} implies num_groups={implied} for "
                    f"num_layers={num_layers}; leave `num_groups` as None. "
                    f"Received: num_groups={num_groups}"
                )
        elif strategy != CUSTOM:
            if num_groups is None:
                raise ValueError(
                    f"Strategy {strategy!r} needs `num_groups`. "
                    f"Received: num_groups=None, num_layers={num_layers}"
                )
            _check_groups(strategy, num_layers, num_groups, "num_groups")
        if num_groups_ffn is not None:
            if strategy in _IMPLIED or strategy == CUSTOM or scope != "block":
                raise ValueError(
                    "`num_groups_ffn` needs strategy 'sequence', 'cycle' or "
                    "'cycle_rev' and scope 'block'. Received: "
                    f"num_groups_ffn={num_groups_ffn!r}, strategy={strategy!r}, "
                    f"scope={scope!r}"
                )
            if not _is_int(num_groups_ffn) or num_groups_ffn < 1:
                raise ValueError(
                    "`num_groups_ffn` must be None or an integer >= 1. "
                    f"Received: num_groups_ffn={num_groups_ffn!r}"
                )
            _check_groups(strategy, num_layers, num_groups_ffn, "num_groups_ffn")
        self.num_layers = num_layers
        self.strategy = strategy
        self.scope = scope
        self.num_groups_ffn = num_groups_ffn
        self._num_groups = num_groups
        self._explicit = explicit
        unshared = tuple(range(num_layers))
        pattern = self._assign(num_groups)
        ffn_pattern = pattern if num_groups_ffn is None else self._assign(num_groups_ffn)
        self._pattern = pattern
        self._table = {
            "self_attention": unshared if scope == "ffn" else pattern,
            "feed_forward": unshared if scope == "attention" else ffn_pattern,
        }
        self._table.update(explicit)
        self._table.setdefault("cross_attention", self._table["self_attention"])
        self._table = {kind: self._table[kind] for kind in KINDS}

    def _assign(self, m):
        n = self.num_layers
        if self.strategy in ("none", CUSTOM):
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

    def at_depth(self, depth):
        """The groups of each sublayer kind when the stack runs `depth`
        depths instead of `num_layers` (elastic depth): the same strategy
        over the same groups of this plan, so no new weights are needed.

        `"all"` and `"cycle"` run at any depth (`cycle` below `num_groups`
        uses the first groups only); `"sequence"` at multiples of its
        groups (each block repeated `depth / M` times); `"cycle_rev"` at
        `num_groups` depths or more; `"sandwich"` at 2 or more (first and
        last group kept, the middle one repeated). Sublayers without
        sharing (strategy `"none"`, the kinds outside `scope`) and explicit
        assignments have one group per depth of this plan, so they run at
        most `num_layers` depths, the first ones.

        Args:
            depth: int >= 1.

        Returns:
            `{kind: tuple}` for every kind of `KINDS`: group ids of this
            plan (as in `assignments_of`), one per depth.

        Example:

        >>> SharingPlan(8, 2, strategy="cycle").at_depth(5)["self_attention"]
        (0, 1, 0, 1, 0)
        >>> SharingPlan(6, 3, strategy="sequence").at_depth(9)["feed_forward"]
        (0, 0, 0, 1, 1, 1, 2, 2, 2)
        """
        if not _is_int(depth) or depth < 1:
            raise ValueError(f"`depth` must be an integer >= 1. Received: depth={depth!r}")
        result = {}
        for kind in KINDS:
            if kind == "cross_attention" and kind not in self._explicit:
                result[kind] = result["self_attention"]
                continue
            unshared = (
                kind in self._explicit
                or self.strategy in ("none", CUSTOM)
                or self.scope == ("attention" if kind == "feed_forward" else "ffn")
                or (self.strategy == "sandwich" and self.num_layers <= 2)  # no middle group
            )
            if unshared:
                if depth > self.num_layers:
                    raise ValueError(
                        f"{self} has {kind} sublayers for its {self.num_layers} depths only "
                        f"(unshared or assigned explicitly). Received: depth={depth}"
                    )
                result[kind] = self._table[kind][:depth]
                continue
            groups = len(set(self._table[kind]))
            result[kind] = self._pattern_at(depth, groups)
        return result

    def _pattern_at(self, depth, groups):
        """The strategy's groups at `depth` depths over this plan's `groups`."""
        strategy, n, m = self.strategy, depth, groups
        if strategy == "all":
            return (0,) * n
        if strategy == "cycle":
            return tuple(i % m for i in range(n))
        problem = None
        if strategy == "sequence" and n % m:
            problem = f"'sequence' needs a multiple of its {m} groups"
        elif strategy == "cycle_rev" and n < m:
            problem = f"'cycle_rev' needs at least its {m} groups"
        elif strategy == "sandwich" and n < 2:
            problem = "'sandwich' needs its first and last groups"
        if problem:
            raise ValueError(f"{self} cannot run at {n} depths: {problem}. Received: depth={n}")
        if strategy == "sequence":
            return tuple(i // (n // m) for i in range(n))
        if strategy == "cycle_rev":
            return tuple(i % m for i in range(n - m)) + tuple(reversed(range(m)))
        return (0,) + (1,) * (n - 2) + (2,)  # sandwich

    @property
    def assignments(self):
        """Tuple of `num_layers` ints: the strategy's pattern (a custom
        plan's self-attention groups). Sublayers follow `assignments_of`."""
        return self._table["self_attention"] if self.strategy == CUSTOM else self._pattern

    @property
    def num_groups(self):
        """Number of groups `M` of the strategy's pattern (`assignments`):
        the groups of whatever the scope shares (attention and feed-forward
        for `"block"`, attention only for `"attention"`, the feed-forward
        networks only for `"ffn"`). With `num_groups_ffn` the feed-forward
        networks have that many groups instead; `groups_of(kind)` counts
        any kind."""
        return len(set(self.assignments))

    @property
    def num_unique(self):
        """Former name of `num_groups` (as given: `None` where implied)."""
        return self._num_groups

    @property
    def num_unique_ffn(self):
        """Former name of `num_groups_ffn`."""
        return self.num_groups_ffn

    @property
    def explicit_assignments(self):
        """The kinds given explicitly: `{kind: tuple}` (may be empty)."""
        return dict(self._explicit)

    @property
    def attention_assignments(self):
        """Group of the self-attention sublayer at each depth."""
        return self._table["self_attention"]

    @property
    def feed_forward_assignments(self):
        """Group of the feed-forward sublayer at each depth."""
        return self._table["feed_forward"]

    def assignments_of(self, kind):
        """Group of the `kind` sublayer (`KINDS`; `"attention"` is
        self-attention, `"block"` the strategy's pattern) at each depth."""
        if kind == "block":
            return self.assignments
        if kind == "attention":
            kind = "self_attention"
        if kind not in self._table:
            raise ValueError(
                f"Expected kind in {KINDS + ('attention', 'block')}. Received: kind={kind!r}"
            )
        return self._table[kind]

    def groups_of(self, kind):
        """Number of distinct groups of the `kind` sublayer."""
        return len(set(self.assignments_of(kind)))

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
        """Depths that use `group` of the `kind` sublayer."""
        return tuple(d for d, g in enumerate(self.assignments_of(kind)) if g == group)

    def with_assignments(self, **kinds):
        """A new plan with these kinds assigned explicitly (as `assignments`),
        e.g. `plan.with_assignments(cross_attention="AAAA")`."""
        config = self.get_config()
        config["assignments"] = {**config.get("assignments", {}), **kinds}
        return SharingPlan(**config)

    def replace(
        self,
        num_layers=None,
        num_groups=None,
        strategy=None,
        scope=None,
        num_groups_ffn=None,
        *,
        num_unique=None,
        num_unique_ffn=None,
    ):
        """A new plan with the given fields changed (`None` keeps a field).

        A strategy that needs `num_groups` keeps this plan's value unless one
        is given; strategies that imply it (`none`, `all`, `sandwich`) drop
        it. `num_groups_ffn` is kept only while strategy, `num_groups` and
        scope stay as they are; explicit assignments only while the number of
        depths does. The result is validated like any plan.

        Example:

        >>> SharingPlan(6, 3, "cycle_rev").replace(num_layers=9).assignments
        (0, 1, 2, 0, 1, 2, 2, 1, 0)
        """
        num_groups = _alias(num_groups, num_unique, "num_groups", "num_unique")
        num_groups_ffn = _alias(num_groups_ffn, num_unique_ffn, "num_groups_ffn", "num_unique_ffn")
        strategy = strategy or self.strategy
        scope = scope or self.scope
        regrouped = (num_groups, strategy, scope) != (None, self.strategy, self.scope)
        if num_groups is None and strategy not in _IMPLIED:
            num_groups = self._num_groups
        if num_groups_ffn is None and not regrouped:
            num_groups_ffn = self.num_groups_ffn
        num_layers = num_layers or self.num_layers
        explicit = self._explicit
        if explicit and num_layers != self.num_layers:
            raise ValueError(
                "Explicit assignments cannot be laid over another number of depths; give new "
                f"ones. Received: num_layers={num_layers} for {self}"
            )
        assignments = {kind: list(groups) for kind, groups in explicit.items()} or None
        return SharingPlan(num_layers, num_groups, strategy, scope, num_groups_ffn, assignments)

    def get_config(self):
        config = {
            "num_layers": self.num_layers,
            "num_groups": self._num_groups,
            "strategy": self.strategy,
            "scope": self.scope,
            "num_groups_ffn": self.num_groups_ffn,
        }
        if self._explicit:
            config["assignments"] = {k: list(v) for k, v in self._explicit.items()}
        return config

    @classmethod
    def from_config(cls, config):
        """The plan of `config`; configs written with the former names
        (`num_unique`, `num_unique_ffn`) load as well."""
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
        return hash(repr(self))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"SharingPlan({args})"

    def __str__(self):
        if self.strategy == CUSTOM:
            kinds = ", ".join(f"{kind} {_letters(self._table[kind])}" for kind in KINDS)
            return f"custom {kinds} ({self.num_layers} depths)"
        text = f"{self.strategy} {_letters(self._pattern)}"
        if self.num_groups_ffn is None:
            groups = f"{self.num_groups} groups"
        else:
            text += f" ffn {_letters(self._table['feed_forward'])}"
            groups = f"{self.num_groups} + {self.groups_of('feed_forward')} ffn groups"
        for kind, assigned in self._explicit.items():
            text += f", {kind} {_letters(assigned)}"
        return f"{text} ({groups} over {self.num_layers} depths, scope={self.scope})"
