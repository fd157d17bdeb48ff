import modelbay


def test_all_lists_exactly_the_public_names() -> None:
    import types

    public = {
        n
        for n in dir(modelbay)
        if not n.startswith("_") and not isinstance(getattr(modelbay, n), types.ModuleType)
    }
    assert public <= set(modelbay.__all__)
    for name in modelbay.__all__:
        assert getattr(modelbay, name) is not None


def test_importing_modelbay_loads_no_training_code() -> None:
    import subprocess
    import sys

    code = "import sys, modelbay, modelbay.registry; print(any(m.startswith('modelbay.train') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_cli_starts_without_scikit_learn_torch_or_onnx_runtime() -> None:
    """Registry commands (`models list`, `alias set`, `keys create`) need none of them: each
    costs a second or more of start-up, every time a command runs."""
    import subprocess
    import sys

    code = (
        "import sys, modelbay, modelbay.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'torch', 'onnxruntime'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert modelbay.Preprocessing.from_any(None) is not None  # still there, when asked for


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
    listing = modelbay.NotFoundError("model 'x' does not exist", names=["a", "b"], label="models")
    back = pickle.loads(pickle.dumps(listing))
    assert str(back) == "model 'x' does not exist; models: a, b"
    assert back.shown(lambda n: n == "b") == "model 'x' does not exist; models: b"
