import argparse

import pytest

from sharedformer_tf import SharingPlan
from sharedformer_tf.app import flags


def _parse(argv):
    parser = argparse.ArgumentParser()
    flags.add_sharing_flags(parser)
    return parser.parse_args(argv)


def test_sharing_flags_override_the_preset_plan():
    base = SharingPlan(6, 3, "cycle_rev")
    assert flags.plan_from_flags(_parse([]), base) == base
    assert flags.plan_from_flags(_parse(["--sharing", "none"]), base) == SharingPlan(
        6, strategy="none"
    )
    changed = flags.plan_from_flags(
        _parse(["--layers", "8", "--groups", "4", "--share-scope", "ffn"]), base
    )
    assert changed == SharingPlan(8, 4, "cycle_rev", "ffn")
    two_ffn = flags.plan_from_flags(_parse(["--groups-ffn", "2"]), base)
    assert two_ffn == SharingPlan(6, 3, "cycle_rev", num_groups_ffn=2)
    assert flags.plan_from_flags(_parse(["--layers", "8"]), two_ffn).num_groups_ffn == 2
    assert flags.plan_from_flags(_parse(["--groups", "2"]), two_ffn) == SharingPlan(
        6, 2, "cycle_rev"
    )
    # The former names are the same flags.
    assert vars(_parse(["--unique", "2", "--unique-ffn", "1"])) == vars(
        _parse(["--groups", "2", "--groups-ffn", "1"])
    )
    with pytest.raises(ValueError, match="strategy='all'"):
        flags.plan_from_flags(_parse(["--sharing", "all", "--groups-ffn", "2"]), base)


@pytest.mark.parametrize("text", ["0", "-3", "x", "1.5"])
def test_positive_int_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
        flags.positive_int(text)


@pytest.mark.parametrize(
    "function, good, bad",
    [
        (flags.positive_float, ["3e-4", "2"], ["0", "-1e-3", "nan", "inf", "fast"]),
        (flags.non_negative_float, ["0", "0.05"], ["-0.1", "nan", "inf"]),
        (flags.fraction, ["0", "0.1", "0.99"], ["1", "-0.1", "nan", "x"]),
        (flags.open_fraction, ["0.5", "0.99"], ["0", "1", "nan"]),
        (flags.weight, ["0", "0.5", "1"], ["-0.1", "1.01", "nan"]),
    ],
)
def test_float_flag_types(function, good, bad):
    assert [function(text) for text in good] == [float(text) for text in good]
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
            function(text)


def test_run_turns_bad_input_into_exit_status_2(capsys):
    parser = argparse.ArgumentParser(prog="app")

    def fail(args):
        raise ValueError("bad SPEC. Received: spec='x'")

    with pytest.raises(SystemExit) as exit_info:
        flags.run({None: fail}, parser, argparse.Namespace(command=None))
    assert exit_info.value.code == 2
    assert "error: bad SPEC. Received: spec='x'" in capsys.readouterr().err
