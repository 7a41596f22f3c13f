import pytest

from lrkit.recipes.profiles import Profile, pick, read_profiles


def test_profiles_keep_their_keys_and_time_scale():
    ps = read_profiles("recipe r", {"quick": {"time_scale": 0.1, "iters": 7}, "full": {}}, ("time_scale", "iters"))
    assert ps["quick"].time_scale == 0.1 and ps["full"].time_scale == 1.0
    assert ps["quick"]["iters"] == 7 and ps["quick"].settings() == {"iters": 7} and ps["quick"].name == "quick"
    assert ps["quick"].scaled(10_000) == 1000 and ps["quick"].scaled(3) == 1  # at least one iteration


@pytest.mark.parametrize("profiles, kw, message", [
    ({"quick": {"foo": 1}}, {}, r"unknown key 'foo' in \[profiles.quick\]; allowed: time_scale, iters"),
    ({"quick": {"time_scale": 2}}, {}, r"field 'time_scale' of \[profiles.quick\] must be a number in \(0, 1\]"),
    ({"quick": {"time_scale": True}}, {}, r"field 'time_scale' of \[profiles.quick\]"),
    ({"quick": {}}, {"required": ("quick", "full")}, r"missing profile\(s\) full; a recipe has quick, full"),
    ({"medium": {}}, {"names": ("quick", "full")}, r"unknown key 'medium' in \[profiles\]; allowed: quick, full"),
])
def test_a_bad_profile_is_one_line_naming_the_field(profiles, kw, message):
    with pytest.raises(ValueError, match=message):
        read_profiles("recipe r", profiles, ("time_scale", "iters"), **kw)


def test_picking_an_unknown_profile_lists_those_there_are():
    ps = {"quick": Profile("quick", {}), "full": Profile("full", {})}
    assert pick("recipe r", ps, "full") is ps["full"]
    with pytest.raises(ValueError, match="recipe r: field 'profile' must be one of quick, full, got 'medium'"):
        pick("recipe r", ps, "medium")
