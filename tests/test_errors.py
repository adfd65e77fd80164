import pretrained.errors as errors


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def test_every_error_has_a_hint_and_an_exit_code():
    for cls in [errors.PretrainedError, *_all_subclasses(errors.PretrainedError)]:
        exc = cls("something went wrong")
        assert exc.hint and "\n" not in exc.hint, cls
        assert exc.exit_code in (1, 2), cls
        assert str(exc) == "something went wrong"
        assert exc.to_dict()["type"] == cls.__name__


def test_usage_errors_exit_2_runtime_errors_exit_1():
    assert errors.InvalidOptionError("x").exit_code == 2
    assert isinstance(errors.InvalidOptionError("x"), ValueError)
    assert errors.ModelNotCachedError("x").exit_code == 1
    assert errors.InputNotFoundError("x").exit_code == 1


def test_custom_hint_wins():
    assert errors.ModelError("m", hint="do this").hint == "do this"


def test_tree_in_docstring_names_every_class():
    for cls in _all_subclasses(errors.PretrainedError):
        assert cls.__name__ in errors.__doc__, cls.__name__
