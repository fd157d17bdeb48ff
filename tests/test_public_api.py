import modelbay


def test_all_lists_exactly_the_public_names() -> None:
    public = {n for n in dir(modelbay) if not n.startswith("_")}
    modules = {"bay", "data", "errors", "registry", "settings", "train", "cli"}
    assert set(modelbay.__all__) == public - modules


def test_every_exported_error_derives_from_the_root() -> None:
    for name in modelbay.__all__:
        obj = getattr(modelbay, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, modelbay.ModelbayError)


def test_errors_cross_process_boundaries() -> None:
    import pickle

    err = modelbay.NotFoundError("model 'x' does not exist")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is modelbay.NotFoundError and str(back) == str(err)
