import json

import pytest

from sharedformer_tf import SharingPlan
from sharedformer_tf.sharing import SCOPES, STRATEGIES
from sharedformer_tf.sharing.sharing_plan import KINDS


@pytest.mark.parametrize(
    "args, expected",
    [
        ((6, None, "none"), (0, 1, 2, 3, 4, 5)),
        ((6, None, "all"), (0, 0, 0, 0, 0, 0)),
        ((6, 3, "sequence"), (0, 0, 1, 1, 2, 2)),
        ((6, 2, "sequence"), (0, 0, 0, 1, 1, 1)),
        ((6, 3, "cycle"), (0, 1, 2, 0, 1, 2)),
        ((5, 2, "cycle"), (0, 1, 0, 1, 0)),
        ((6, 3, "cycle_rev"), (0, 1, 2, 2, 1, 0)),
        ((9, 3, "cycle_rev"), (0, 1, 2, 0, 1, 2, 2, 1, 0)),
        ((4, 2, "cycle_rev"), (0, 1, 1, 0)),
        ((3, 3, "cycle_rev"), (2, 1, 0)),
        ((6, None, "sandwich"), (0, 1, 1, 1, 1, 2)),
        ((3, None, "sandwich"), (0, 1, 2)),
        ((2, None, "sandwich"), (0, 1)),
        ((1, None, "sandwich"), (0,)),
    ],
)
def test_assignments(args, expected):
    plan = SharingPlan(*args)
    assert plan.assignments == expected
    assert all(type(g) is int for g in plan.assignments)
    assert plan.num_groups == len(set(expected))


@pytest.mark.parametrize("strategy", ["sequence", "cycle", "cycle_rev"])
@pytest.mark.parametrize("n, m", [(1, 1), (4, 1), (4, 2), (8, 4), (6, 6)])
def test_explicit_strategies_use_exactly_m_groups(strategy, n, m):
    plan = SharingPlan(n, m, strategy)
    assert len(plan.assignments) == n
    assert sorted(set(plan.assignments)) == list(range(m))


def test_cycle_rev_matches_definition_for_many_sizes():
    for n in range(1, 13):
        for m in range(1, n + 1):
            got = SharingPlan(n, m, "cycle_rev").assignments
            assert got[: n - m] == tuple(i % m for i in range(n - m))
            assert got[n - m :] == tuple(range(m - 1, -1, -1))


@pytest.mark.parametrize(
    "scope, attention, ffn",
    [
        ("block", (0, 1, 0, 1), (0, 1, 0, 1)),
        ("attention", (0, 1, 0, 1), (0, 1, 2, 3)),
        ("ffn", (0, 1, 2, 3), (0, 1, 0, 1)),
    ],
)
def test_scope_chooses_shared_sublayers(scope, attention, ffn):
    plan = SharingPlan(4, 2, "cycle", scope=scope)
    assert plan.assignments == (0, 1, 0, 1)
    assert plan.attention_assignments == attention
    assert plan.feed_forward_assignments == ffn


def test_depths_of():
    plan = SharingPlan(6, 3, "cycle_rev", scope="attention")
    assert plan.depths_of(0) == (0, 5)
    assert plan.depths_of(2, "attention") == (2, 3)
    assert plan.depths_of(2, "feed_forward") == (2,)
    with pytest.raises(ValueError, match="kind='bogus'"):
        plan.depths_of(0, "bogus")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_layers=0), "num_layers=0"),
        (dict(num_layers=-2, strategy="all"), "num_layers=-2"),
        (dict(num_layers=2.0, strategy="all"), "num_layers=2.0"),
        (dict(num_layers=True, strategy="all"), "num_layers=True"),
        (dict(num_layers=6, num_groups=4, strategy="sequence"), "num_layers=6, num_groups=4"),
        (dict(num_layers=3, num_groups=4, strategy="cycle"), "num_groups=4, num_layers=3"),
        (dict(num_layers=3, num_groups=4, strategy="cycle_rev"), "num_groups=4"),
        (dict(num_layers=6, num_groups=0, strategy="cycle"), "num_groups=0"),
        (dict(num_layers=6, strategy="cycle"), "needs `num_groups`"),
        (dict(num_layers=6, num_groups=3, strategy="zigzag"), "strategy='zigzag'"),
        (dict(num_layers=6, num_groups=3, scope="norm"), "scope='norm'"),
        (dict(num_layers=6, num_groups=2, strategy="all"), "num_groups=2"),
        (dict(num_layers=6, num_groups=3, strategy="none"), "implies num_groups=6"),
        (dict(num_layers=6, num_groups=2, strategy="sandwich"), "implies num_groups=3"),
        (dict(num_layers=6, num_groups=3, num_groups_ffn=0), "num_groups_ffn=0"),
        (dict(num_layers=6, num_groups=3, num_groups_ffn=7), "num_groups_ffn=7, num_layers=6"),
        (
            dict(num_layers=6, num_groups=3, strategy="sequence", num_groups_ffn=4),
            "num_layers=6, num_groups_ffn=4",
        ),
        (dict(num_layers=6, strategy="all", num_groups_ffn=2), "strategy='all'"),
        (dict(num_layers=6, num_groups=3, scope="ffn", num_groups_ffn=2), "scope='ffn'"),
    ],
)
def test_invalid_plans_name_received_values(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        SharingPlan(**kwargs)


@pytest.mark.parametrize(
    "strategy, ffn",
    [
        ("cycle_rev", (0, 1, 0, 1, 1, 0)),
        ("cycle", (0, 1, 0, 1, 0, 1)),
        ("sequence", (0, 0, 0, 1, 1, 1)),
    ],
)
def test_num_groups_ffn_groups_the_feed_forward_networks_apart(strategy, ffn):
    plan = SharingPlan(6, 3, strategy, num_groups_ffn=2)
    assert plan.attention_assignments == plan.assignments == SharingPlan(6, 3, strategy).assignments
    assert plan.feed_forward_assignments == ffn
    assert plan.depths_of(1, "feed_forward") == tuple(d for d, g in enumerate(ffn) if g == 1)
    assert plan.num_groups == 3
    assert SharingPlan.from_config(plan.get_config()) == plan
    assert plan != SharingPlan(6, 3, strategy)


def test_implied_num_groups_may_be_given_when_equal():
    assert SharingPlan(4, 4, "none").assignments == (0, 1, 2, 3)
    assert SharingPlan(4, 1, "all").assignments == (0, 0, 0, 0)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("scope", SCOPES)
def test_config_round_trip_is_plain_json(strategy, scope):
    num_groups = 2 if strategy in ("sequence", "cycle", "cycle_rev") else None
    plan = SharingPlan(6, num_groups, strategy, scope)
    config = plan.get_config()
    assert json.loads(json.dumps(config)) == config
    assert all(type(v) in (int, str, type(None)) for v in config.values())
    restored = SharingPlan.from_config(config)
    assert restored == plan and hash(restored) == hash(plan)
    assert restored.assignments == plan.assignments
    assert SharingPlan.coerce(config) == plan


def test_str_and_repr():
    plan = SharingPlan(6, 3, "cycle_rev")
    assert "ABCCBA" in str(plan) and "ffn" not in str(plan)
    assert eval(repr(plan)) == plan
    plan = SharingPlan(6, 3, "cycle_rev", num_groups_ffn=2)
    assert "ABCCBA ffn ABABBA (3 + 2 ffn groups" in str(plan)
    assert eval(repr(plan)) == plan


def test_coerce_rejects_other_types():
    with pytest.raises(TypeError, match="Received: plan=6"):
        SharingPlan.coerce(6)


def test_replace_keeps_or_drops_num_groups():
    plan = SharingPlan(6, 3, "cycle_rev")
    assert plan.replace(num_layers=9).assignments == (0, 1, 2, 0, 1, 2, 2, 1, 0)
    assert plan.replace(strategy="sequence") == SharingPlan(6, 3, "sequence")
    assert plan.replace(strategy="all") == SharingPlan(6, strategy="all")
    assert plan.replace(scope="ffn").scope == "ffn"
    assert plan.replace(num_groups=2).assignments == (0, 1, 0, 1, 1, 0)
    with pytest.raises(ValueError, match="num_layers=4, num_groups=3"):
        plan.replace(num_layers=4, strategy="sequence")
    with pytest.raises(ValueError, match="needs `num_groups`"):
        SharingPlan(4, strategy="all").replace(strategy="cycle")


def test_replace_keeps_num_groups_ffn_only_while_the_groups_stay():
    plan = SharingPlan(6, 3, "cycle_rev", num_groups_ffn=2)
    assert plan.replace(num_layers=8).num_groups_ffn == 2
    assert plan.replace(num_layers=8).feed_forward_assignments == (0, 1, 0, 1, 0, 1, 1, 0)
    assert plan.replace(num_groups=4).num_groups_ffn is None
    assert plan.replace(strategy="none") == SharingPlan(6, strategy="none")
    assert plan.replace(scope="attention").num_groups_ffn is None
    assert plan.replace(num_groups=4, num_groups_ffn=1).feed_forward_assignments == (0,) * 6


def test_owner_is_the_first_depth_of_the_group_per_sublayer_kind():
    plan = SharingPlan(6, 2, strategy="cycle_rev", num_groups_ffn=3)  # ABABBA / ABCCBA
    assert [plan.owner(d, "self_attention") for d in range(6)] == [0, 1, 0, 1, 1, 0]
    assert [plan.owner(d, "cross_attention") for d in range(6)] == [0, 1, 0, 1, 1, 0]
    assert [plan.owner(d, "feed_forward") for d in range(6)] == [0, 1, 2, 2, 1, 0]
    assert plan.group_owner(2, "feed_forward") == 2 and plan.group_owner(1, "block") == 1
    attention_only = SharingPlan(4, 1, strategy="all", scope="attention")
    assert [attention_only.owner(d, "self_attention") for d in range(4)] == [0, 0, 0, 0]
    assert [attention_only.owner(d, "feed_forward") for d in range(4)] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="kind='adapter'"):
        plan.owner(0, "adapter")


def test_former_names_still_build_the_same_plan():
    """Configs saved before the rename (`num_unique`, `num_unique_ffn`)."""
    old = {"num_layers": 6, "num_unique": 3, "strategy": "cycle_rev", "scope": "block",
           "num_unique_ffn": 2}  # fmt: skip
    assert SharingPlan.from_config(old) == SharingPlan(6, 3, "cycle_rev", num_groups_ffn=2)
    plan = SharingPlan(6, num_unique=3, strategy="cycle")
    assert plan.num_groups == plan.num_unique == 3
    with pytest.raises(ValueError, match="Received: num_groups=2, num_unique=3"):
        SharingPlan(6, 2, num_unique=3)


def test_explicit_assignments_per_kind():
    plan = SharingPlan(strategy="custom", assignments={
        "self_attention": "ABCCBA", "feed_forward": [5, 7, 5, 7, 7, 5]})  # fmt: skip
    assert plan.num_layers == 6
    assert plan.assignments_of("self_attention") == (0, 1, 2, 2, 1, 0)
    assert plan.assignments_of("feed_forward") == (0, 1, 0, 1, 1, 0)  # renumbered by first use
    assert plan.assignments_of("cross_attention") == (0, 1, 2, 2, 1, 0)  # follows self-attention
    assert [plan.owner(d, "feed_forward") for d in range(6)] == [0, 1, 0, 1, 1, 0]
    assert plan.groups_of("self_attention") == 3 and plan.groups_of("feed_forward") == 2
    # Unassigned kinds of a custom plan are unshared.
    lone = SharingPlan(strategy="custom", assignments={"attention": "AAAA"})
    assert lone.assignments_of("cross_attention") == (0, 0, 0, 0)
    assert lone.assignments_of("feed_forward") == (0, 1, 2, 3)
    for each in (plan, lone):
        config = json.loads(json.dumps(each.get_config()))
        assert SharingPlan.from_config(config) == each and eval(repr(each)) == each


def test_explicit_assignments_override_the_shorthand():
    plan = SharingPlan(4, 2, "cycle_rev").with_assignments(cross_attention="AAAA")
    assert plan.assignments_of("self_attention") == (0, 1, 1, 0)
    assert plan.assignments_of("cross_attention") == (0, 0, 0, 0)
    assert "cycle_rev ABBA" in str(plan) and "cross_attention AAAA" in str(plan)
    assert plan.replace(num_groups=1).assignments_of("cross_attention") == (0, 0, 0, 0)
    with pytest.raises(ValueError, match="cannot be laid over another number of depths"):
        plan.replace(num_layers=6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_layers=4, assignments={"feed_forward": "ABA"}), "num_layers=4, .*ABA"),
        (dict(assignments={"adapter": "AB"}), "Received: 'adapter'"),
        (dict(assignments={"feed_forward": "ab"}), "feed_forward='ab'"),
        (dict(assignments={"feed_forward": [0, -1]}), r"feed_forward=\[0, -1\]"),
        (dict(assignments=["AB"]), "assignments of type list"),
        (dict(strategy="custom"), "takes only `assignments`"),
        (dict(num_groups=2, strategy="custom", assignments={"attention": "AB"}), "num_groups=2"),
    ],
)
def test_invalid_explicit_assignments_name_received_values(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        SharingPlan(**kwargs)


@pytest.mark.parametrize(
    "plan",
    [
        SharingPlan(6, strategy="none"),
        SharingPlan(6, strategy="all"),
        SharingPlan(6, 3, strategy="sequence"),
        SharingPlan(6, 3, strategy="cycle"),
        SharingPlan(6, 3, strategy="cycle_rev"),
        SharingPlan(6, strategy="sandwich"),
        SharingPlan(6, 2, strategy="cycle", scope="attention"),
        SharingPlan(6, 3, strategy="cycle_rev", num_groups_ffn=2),
        SharingPlan(strategy="custom", assignments={"attention": "ABCCBA"}),
    ],
)
def test_at_its_own_depth_a_plan_gives_its_assignments(plan):
    assert plan.at_depth(plan.num_layers) == {k: plan.assignments_of(k) for k in KINDS}


@pytest.mark.parametrize(
    "plan, depth, self_attention, feed_forward",
    [
        (SharingPlan(8, 2, strategy="cycle"), 4, "ABAB", "ABAB"),
        (SharingPlan(8, 2, strategy="cycle"), 12, "ABABABABABAB", "ABABABABABAB"),
        (SharingPlan(8, 4, strategy="cycle"), 2, "AB", "AB"),
        (SharingPlan(8, 4, strategy="sequence"), 4, "ABCD", "ABCD"),
        (SharingPlan(8, 4, strategy="sequence"), 12, "AAABBBCCCDDD", "AAABBBCCCDDD"),
        (SharingPlan(6, 3, strategy="cycle_rev"), 4, "ACBA", "ACBA"),
        (SharingPlan(6, 3, strategy="cycle_rev"), 8, "ABCABCBA", "ABCABCBA"),
        (SharingPlan(6, strategy="sandwich"), 2, "AC", "AC"),
        (SharingPlan(6, strategy="sandwich"), 9, "ABBBBBBBC", "ABBBBBBBC"),
        (SharingPlan(6, strategy="all"), 10, "A" * 10, "A" * 10),
        (SharingPlan(6, strategy="none"), 3, "ABC", "ABC"),
        (SharingPlan(6, 3, strategy="cycle_rev", num_groups_ffn=2), 9, "ABCABCCBA", "ABABABABA"),
        (SharingPlan(6, 2, strategy="cycle", scope="attention"), 4, "ABAB", "ABCD"),
        (SharingPlan(6, 2, strategy="cycle", scope="ffn"), 3, "ABC", "ABA"),
    ],
)
def test_at_depth_keeps_the_strategy_and_the_groups(plan, depth, self_attention, feed_forward):
    def letters(groups):
        return "".join(chr(ord("A") + g) for g in groups)

    groups = plan.at_depth(depth)
    assert letters(groups["self_attention"]) == self_attention
    assert letters(groups["feed_forward"]) == feed_forward
    assert groups["cross_attention"] == groups["self_attention"]
    for kind in KINDS:  # only groups this plan has
        assert set(groups[kind]) <= set(plan.assignments_of(kind))


@pytest.mark.parametrize(
    "plan, depth, message",
    [
        (SharingPlan(8, 4, strategy="sequence"), 6, "'sequence' needs a multiple of its 4 groups"),
        (SharingPlan(6, 3, strategy="cycle_rev"), 2, "'cycle_rev' needs at least its 3 groups"),
        (SharingPlan(6, strategy="sandwich"), 1, "'sandwich' needs its first and last groups"),
        (SharingPlan(4, strategy="none"), 5, "self_attention sublayers for its 4 depths only"),
        (SharingPlan(4, 2, strategy="cycle", scope="attention"), 6, "feed_forward sublayers"),
        (SharingPlan(strategy="custom", assignments={"attention": "ABBA"}), 5, "4 depths only"),
        (SharingPlan(4, 2, assignments={"cross_attention": "AAAA"}), 8, "cross_attention"),
        (SharingPlan(4, 2), 0, "depth=0"),
        (SharingPlan(4, 2), 2.0, "depth=2.0"),
    ],
)
def test_impossible_depths_are_named(plan, depth, message):
    with pytest.raises(ValueError, match=message):
        plan.at_depth(depth)
