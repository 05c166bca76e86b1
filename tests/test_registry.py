import pytest

from spatialme.registry import Registry


def test_register_get_and_names():
    reg = Registry("widget", "kind")

    @reg.register("b")
    def make_b():
        return "B"

    reg.register("a")(lambda: "A")
    assert reg.names() == ("a", "b") and reg.get("b") is make_b and reg.get("a")() == "A"


def test_errors_name_the_argument():
    reg = Registry("widget", "kind")
    reg.register("a")(len)
    with pytest.raises(ValueError, match="kind: unknown widget 'z'; expected one of a"):
        reg.get("z")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(len)
    reg.register("a", overwrite=True)(abs)
    assert reg.get("a") is abs
    with pytest.raises(ValueError, match="callable"):
        reg.register("c")(42)
