"""`python -m one_keras.predict`: every kind of deployable, CSV output, and
one line for what is not an image or not there.

The models are tiny raw-pixel classifiers whose answer is known: the class
of an image is its brightest colour channel (`Rescaling`, the mean of each
channel, a diagonal `Dense`), so a red image is class 0 whatever its size.
"""

import csv
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from one_keras.export import formats
from one_keras.inference import prediction
from one_keras.inference.class_names import parse_class_names
from one_keras.inference.images import list_images
from one_keras.inference.images import read_image
from one_keras.inference.predictions_csv import csv_header
from one_keras.inference.predictor import load_predictor
from one_keras.inference.predictor import softmax
from tests.cli_tools import loaded_tool
from tests.cli_tools import run_main


SCRIPT = pathlib.Path(prediction.__file__).parents[1] / "cli" / "predict.py"
COLOURS = {"red": (250, 10, 10), "green": (10, 250, 10),
           "blue": (10, 10, 250)}
# Sorted as an image folder numbers its classes: red 0, green 1, blue 2.
FOLDERS = ["a_red", "b_green", "c_blue"]


def colour_classifier(reverse=False, channels=3):
    """Raw pixels in, logits out: class i is the brightest channel i (or
    channel 2 - i with `reverse`); one channel gives its brightness."""
    images = keras.Input((8, 8, channels), name="images")
    x = keras.layers.Rescaling(1 / 255.0)(images)
    x = keras.layers.GlobalAveragePooling2D()(x)
    kernel = 10.0 * np.eye(3, dtype="float32")[:channels]
    if reverse:
        kernel = kernel[:, ::-1]
    logits = keras.layers.Dense(3, kernel_initializer=keras.initializers
                                .Constant(kernel))(x)
    return keras.Model(images, logits)


def save_image(path, colour, size=(20, 30), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.broadcast_to(np.array(colour, np.uint8), size + (3,))
    Image.fromarray(np.ascontiguousarray(pixels)).convert(mode).save(path)
    return path


@pytest.fixture(scope="module")
def predict():
    with loaded_tool(SCRIPT, "predict_cli") as module:
        yield module


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A folder of one image per colour, of other sizes and formats, one in
    a sub-folder, a text file and a hidden file."""
    root = tmp_path_factory.mktemp("images")
    save_image(root / "red.png", COLOURS["red"])
    save_image(root / "green.jpg", COLOURS["green"], (9, 9))
    save_image(root / "more" / "blue.bmp", COLOURS["blue"], (8, 8))
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"hidden")
    return root


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory of an image-folder run: `target.keras` and
    `ensemble.keras` (the reverse classifier), and its class folders."""
    root = tmp_path_factory.mktemp("run")
    folder = root / "photos"
    for name in FOLDERS:
        (folder / "train" / name).mkdir(parents=True)
    run = root / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(
        {"dataset": "image_folder", "data_dir": str(folder), "seed": 0}))
    # As a run stores them when it trains (`train_inputs.inputs_record`).
    (run / "inputs.json").write_text(json.dumps(
        {"dataset": "image_folder", "data_dir": str(folder),
         "data_location": str(folder), "num_classes": 3,
         "class_names": FOLDERS}))
    colour_classifier().save(run / "target.keras")
    colour_classifier(reverse=True).save(run / "ensemble.keras")
    return run


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """The colour classifier exported as an export writes it, in every
    registered format (`ExportFormat.write`): `images` in, `probabilities`
    and `logits` out."""
    root = tmp_path_factory.mktemp("artifacts")
    core = colour_classifier()
    images = keras.Input((8, 8, 3), name="images")
    logits = keras.layers.Activation("linear", name="logits")(core(images))
    probabilities = keras.layers.Softmax(name="probabilities")(logits)
    serving = keras.Model(images, {"probabilities": probabilities,
                                   "logits": logits})
    written = {}
    with pytest.MonkeyPatch.context() as patch:
        for name, exporter in formats.REGISTRY.items():
            # In this process: a fresh TensorFlow process costs seconds.
            patch.setattr(exporter, "separate_process", False)
            path = root / exporter.default_name("model")
            work = root / f"work_{name}"
            work.mkdir()
            exporter.write(serving, str(path), opset=17, work=str(work))
            written[name] = path
    return written


def run_tool(predict, capsys, monkeypatch, **flag_values):
    """Runs the tool; returns its exit code, stdout and stderr lines."""
    monkeypatch.setattr("sys.argv", ["predict.py"])
    if isinstance(flag_values.get("input"), (str, pathlib.Path)):
        flag_values["input"] = [str(flag_values["input"])]
    code = run_main(predict, **flag_values)
    captured = capsys.readouterr()
    return (code, captured.out.strip().splitlines(),
            captured.err.strip().splitlines())


def top_classes(lines):
    """`{file name: top class}` of the tool's output lines."""
    return {pathlib.Path(line.split(": ")[0]).name:
            line.split(": ")[1].split()[0] for line in lines}


def test_a_keras_file_labels_a_folder_and_skips_what_is_not_an_image(
        predict, capsys, monkeypatch, tmp_path, images):
    model = colour_classifier()
    model.save(tmp_path / "colours.keras")
    code, out, err = run_tool(predict, capsys, monkeypatch,
                              model=tmp_path / "colours.keras", input=images,
                              top_k=2)
    assert code == 0, err
    assert top_classes(out) == {"red.png": "0", "green.jpg": "1",
                                "blue.bmp": "2"}
    assert all(len(line.split(", ")) == 2 for line in out)  # top_k=2
    assert [line for line in err if "notes.txt" in line] == [
        line for line in err if "warning" in line]
    assert len(err) == 1 and "skipping" in err[0] and "notes.txt" in err[0]
    # The probabilities are the model's on the raw, resized pixels.
    red = read_image(str(images / "red.png"), (8, 8, 3))
    probabilities = softmax(model.predict(red[None], verbose=0))
    shown = float(out[[i for i, line in enumerate(out)
                       if "red.png" in line][0]].split()[2].rstrip(","))
    assert shown == pytest.approx(float(probabilities[0, 0]), abs=1e-4)


def test_class_names_come_from_the_run_or_the_flag(
        predict, capsys, monkeypatch, tmp_path, images, run_dir):
    code, out, _ = run_tool(predict, capsys, monkeypatch, model=run_dir,
                            input=images)
    assert code == 0
    assert top_classes(out) == {"red.png": "a_red", "green.jpg": "b_green",
                                "blue.bmp": "c_blue"}
    names = tmp_path / "names.txt"
    names.write_text("rot\ngruen\nblau\n")
    for given in (str(names), "rot,gruen,blau"):
        code, out, _ = run_tool(predict, capsys, monkeypatch, model=run_dir,
                                input=images / "red.png", class_names=given)
        assert code == 0 and top_classes(out) == {"red.png": "rot"}
    code, _, err = run_tool(predict, capsys, monkeypatch, model=run_dir,
                            input=images, class_names="one,two")
    assert code == 1 and len(err) == 1
    assert "`class_names` must name the model's 3 classes" in err[0]


def test_a_run_directory_predicts_with_the_deployable_named(
        predict, capsys, monkeypatch, images, run_dir):
    code, out, _ = run_tool(predict, capsys, monkeypatch, model=run_dir,
                            input=images / "red.png", deployable="ensemble")
    assert code == 0 and top_classes(out) == {"red.png": "c_blue"}
    code, _, err = run_tool(predict, capsys, monkeypatch, model=run_dir,
                            input=images, deployable="peer_3")
    assert code == 1 and len(err) == 1
    assert "ensemble, target" in err[0]
    assert err[0].endswith("Received: deployable='peer_3'")
    code, _, err = run_tool(predict, capsys, monkeypatch,
                            model=run_dir / "target.keras", input=images,
                            deployable="ensemble")
    assert code == 1 and len(err) == 1
    assert "`deployable` chooses a deployable of a run directory" in err[0]


@pytest.mark.parametrize("kind", formats.names())
def test_exported_artifacts_agree_with_the_keras_model(
        predict, capsys, monkeypatch, tmp_path, images, artifacts, kind):
    code, out, err = run_tool(predict, capsys, monkeypatch,
                              model=artifacts[kind], input=images,
                              output=tmp_path / "p.csv")
    assert code == 0, err
    assert top_classes(out) == {"red.png": "0", "green.jpg": "1",
                                "blue.bmp": "2"}
    keras_run = load_predictor(
        _saved(tmp_path, colour_classifier()))
    paths = list_images([str(images)])
    want = list(prediction.predict_files(keras_run, paths, top_k=3))
    got = list(prediction.predict_files(
        load_predictor(str(artifacts[kind])), paths, top_k=3))
    assert [p.indices for p in got] == [p.indices for p in want]
    np.testing.assert_allclose([[q for _, q in p.top] for p in got],
                               [[q for _, q in p.top] for p in want],
                               atol=1e-4)


@pytest.mark.parametrize("level,shown", [("3", False), ("0", True)])
def test_tflite_start_line_only_with_tf_cpp_min_log_level_0(artifacts,
                                                            level, shown):
    # A fresh process: TFLite writes the XNNPACK line once per process.
    script = ("import sys; import numpy as np; "
              "from one_keras.export import formats; "
              "run = formats.get('tflite').runner(sys.argv[1]); "
              "run(np.zeros((1, 8, 8, 3), 'float32')); print('done')")
    result = subprocess.run(
        [sys.executable, "-c", script, str(artifacts["tflite"])],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": level})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    assert ("XNNPACK" in result.stderr) == shown, result.stderr


def _saved(tmp_path, model):
    path = tmp_path / "keras_model.keras"
    model.save(path)
    return str(path)


def test_csv_output_is_written_and_replaced_but_no_other_file(
        predict, capsys, monkeypatch, tmp_path, images, run_dir):
    output = tmp_path / "predictions.csv"
    for _ in range(2):  # The second run replaces its own CSV.
        code, out, _ = run_tool(predict, capsys, monkeypatch, model=run_dir,
                                input=images, output=output, top_k=3)
        assert code == 0
        with open(output, newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == csv_header(3)
        assert len(rows) == 1 + len(out) == 4
        by_name = {pathlib.Path(row[0]).name: row for row in rows[1:]}
        assert by_name["red.png"][1] == "a_red"
        probabilities = [float(p) for p in by_name["red.png"][2::2]]
        assert probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
    other = tmp_path / "notes.csv"
    other.write_text("a,b\n1,2\n")
    code, _, err = run_tool(predict, capsys, monkeypatch, model=run_dir,
                            input=images, output=other)
    assert code == 1 and len(err) == 1 and "left alone" in err[0]
    assert other.read_text() == "a,b\n1,2\n"
    config = (run_dir / "config.json").read_text()
    code, _, err = run_tool(predict, capsys, monkeypatch, model=run_dir,
                            input=images, output=run_dir / "config.json")
    assert code == 1 and len(err) == 1 and "left alone" in err[0]
    assert (run_dir / "config.json").read_text() == config


def test_a_csv_inside_the_input_folder_is_not_an_input(
        predict, capsys, monkeypatch, tmp_path, run_dir):
    folder = tmp_path / "photos"
    save_image(folder / "red.png", COLOURS["red"])
    for _ in range(2):
        code, out, err = run_tool(predict, capsys, monkeypatch,
                                  model=run_dir, input=folder,
                                  output=folder / "predictions.csv")
        assert code == 0 and len(out) == 1
        assert not [line for line in err if "skipping" in line]


def test_a_grayscale_model_reads_colour_images_as_gray(tmp_path, images):
    model = colour_classifier(channels=1)
    predictor = load_predictor(_saved(tmp_path, model))
    assert predictor.input_shape == (8, 8, 1)
    image = read_image(str(images / "red.png"), (8, 8, 1))
    gray = np.asarray(Image.new("RGB", (1, 1), COLOURS["red"])
                      .convert("L"))[0, 0]
    np.testing.assert_array_equal(image, np.full((8, 8, 1), gray))


def test_center_crop_keeps_the_middle_of_the_image(tmp_path):
    """An `imagenet2012` run's images are resized and centre-cropped, as
    its evaluation does: the red bands at the sides are cut off."""
    pixels = np.zeros((16, 64, 3), np.uint8)
    pixels[:, :16] = pixels[:, -16:] = COLOURS["red"]
    pixels[:, 16:-16] = COLOURS["blue"]
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    cropped = read_image(str(tmp_path / "wide.png"), (8, 8, 3),
                                    center_crop=True)
    np.testing.assert_array_equal(cropped[..., 2], 250)
    stretched = read_image(str(tmp_path / "wide.png"), (8, 8, 3))
    assert stretched[:, 0, 0].min() > 200  # The red band is kept.


@pytest.mark.parametrize("case, expected", [
    ("missing_model", "Received: model="),
    ("text_model", "(a .txt file)"),
    ("missing_input", "(not found)"),
    ("empty_folder", "holds no files to label"),
    ("no_image", "holds no image"),
    ("no_input", "give at least one --input"),
    ("empty_run", "no deployable"),
    ("training_model", "is a training model (ONEModel"),
    ("two_outputs", "must return one logits tensor"),
])
def test_bad_paths_are_one_line(predict, capsys, monkeypatch, tmp_path,
                                run_dir, case, expected):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "a.txt").write_text("text")
    (tmp_path / "m.txt").write_text("text")
    model, inputs = run_dir, [str(tmp_path / "text")]
    if case == "missing_model":
        model = tmp_path / "nothing"
    elif case == "text_model":
        model = tmp_path / "m.txt"
    elif case == "missing_input":
        inputs = [str(tmp_path / "nothing.png")]
    elif case == "empty_folder":
        inputs = [str(tmp_path / "empty")]
    elif case == "no_input":
        inputs = None
    elif case == "training_model":
        from one_keras import methods

        model = tmp_path / "model.keras"
        methods.build_method_model("one", num_classes=3,
                                   input_shape=(8, 8, 3), depth=8,
                                   width=4).save(model)
    elif case == "two_outputs":
        model = tmp_path / "two.keras"
        inputs_ = keras.Input((8, 8, 3))
        pooled = keras.layers.GlobalAveragePooling2D()(inputs_)
        keras.Model(inputs_, [keras.layers.Dense(3)(pooled),
                              keras.layers.Dense(2)(pooled)]).save(model)
    elif case == "empty_run":
        model = tmp_path / "empty"
        save_image(tmp_path / "red.png", COLOURS["red"])
        inputs = [str(tmp_path / "red.png")]
    code, out, err = run_tool(predict, capsys, monkeypatch, model=model,
                              input=inputs)
    assert code == 1 and not out
    errors = [line for line in err if ": error: " in line]
    assert len(errors) == 1 and expected in errors[0], err
    assert "{path!r}" not in errors[0]  # Every message is an f-string.
    assert all("warning" in line for line in err if line not in errors)


def test_a_named_pipe_is_skipped_not_read(predict, capsys, monkeypatch,
                                          tmp_path, run_dir):
    """Reading a pipe would block forever."""
    import os

    folder = tmp_path / "photos"
    save_image(folder / "red.png", COLOURS["red"])
    os.mkfifo(folder / "pipe.png")
    code, out, err = run_tool(predict, capsys, monkeypatch, model=run_dir,
                              input=folder)
    assert code == 0 and top_classes(out) == {"red.png": "a_red"}
    assert len(err) == 1 and "pipe.png: not a regular file" in err[0]


def test_class_names_lose_a_byte_order_mark_and_refuse_empty_names(
        predict, capsys, monkeypatch, tmp_path, images, run_dir):
    """Issue 37, finding 17: a UTF-8 BOM stayed in the first class name;
    `--class_names ,,,` was accepted (every class named "")."""
    names = tmp_path / "names.txt"
    names.write_text("rot\ngruen\nblau\n", encoding="utf-8-sig")
    assert parse_class_names(str(names)) == ["rot", "gruen",
                                                        "blau"]
    for value, message in ((",,,", "none empty"), ("a,,b", "none empty"),
                           ("a,b,a", "each class once")):
        with pytest.raises(ValueError, match=message):
            parse_class_names(value)
    (tmp_path / "blank.txt").write_text("\n \n")
    with pytest.raises(ValueError, match="names no class"):
        parse_class_names(str(tmp_path / "blank.txt"))
    code, _, err = run_tool(predict, capsys, monkeypatch, model=run_dir,
                            input=images, class_names=",,,")
    assert code == 1 and len(err) == 1 and "none empty" in err[0]


def test_class_names_are_the_runs_whatever_its_folder_holds_now(
        predict, capsys, monkeypatch, tmp_path, images, run_dir):
    """Issue 37, finding 4: after `mv train/fish train/aardvark` a fish was
    labelled "dog": the classes came from the folder as it is today."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    folder = tmp_path / "photos"
    for name in ("aardvark", *FOLDERS[:2]):  # c_blue renamed: sorts first.
        (folder / "train" / name).mkdir(parents=True)
    # The run trained on `folder`, whose class folders changed since.
    for name, key in (("config.json", "data_dir"),
                      ("inputs.json", "data_location")):
        saved = json.loads((run / name).read_text())
        (run / name).write_text(json.dumps({**saved, key: str(folder)}))
    code, out, err = run_tool(predict, capsys, monkeypatch, model=run,
                              input=images)
    assert code == 0
    assert top_classes(out) == {"red.png": "a_red", "green.jpg": "b_green",
                                "blue.bmp": "c_blue"}
    assert len(err) == 2 and "skipping" in err[1]
    assert "changed since the run trained on it (3 classes now, 3 when " \
        "trained; new: aardvark; gone: c_blue)" in err[0]
    # A run of an earlier version stored none: indices, never the folder's.
    (run / "inputs.json").unlink()
    code, out, err = run_tool(predict, capsys, monkeypatch, model=run,
                              input=images / "red.png")
    assert code == 0 and top_classes(out) == {"red.png": "0"}
    assert "does not record its class names" in err[0]


def test_symlinked_sub_folders_are_followed_and_loops_reported(
        predict, capsys, monkeypatch, tmp_path, run_dir):
    """A symlinked sub-folder was skipped without a word (issue 37, #8)."""
    outside = tmp_path / "outside"
    save_image(outside / "blue.png", COLOURS["blue"])
    folder = tmp_path / "photos"
    save_image(folder / "red.png", COLOURS["red"])
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    code, out, err = run_tool(predict, capsys, monkeypatch, model=run_dir,
                              input=folder)
    assert code == 0, err
    assert top_classes(out) == {"red.png": "a_red", "blue.png": "c_blue"}
    assert len(err) == 1 and "loop: a link to a folder listed already" in \
        err[0]


def test_the_csv_is_safe_in_a_spreadsheet_and_gets_the_usual_mode(
        predict, capsys, monkeypatch, tmp_path, run_dir):
    """The CSV was created 0600, and a newline or `=cmd|...` in a file name
    went into it as is (issue 37, #17)."""
    import os

    folder = tmp_path / "photos"
    names = ["=cmd|' calc'!A0.png", "two\nlines.png", "@sum.png"]
    for name in names:
        save_image(folder / name, COLOURS["red"])
    output = tmp_path / "predictions.csv"
    monkeypatch.chdir(folder)  # The files given by name: cells start so.
    old = os.umask(0o022)
    try:
        code, out, err = run_tool(predict, capsys, monkeypatch,
                                  model=run_dir, input=names, output=output)
    finally:
        os.umask(old)
    assert code == 0 and len(out) == 3, err
    assert os.stat(output).st_mode & 0o777 == 0o644
    text = output.read_text()
    assert len(text.splitlines()) == 4  # The header and one row an image.
    cells = [row[0] for row in csv.reader(text.splitlines()[1:])]
    assert all(not cell.startswith(("=", "@", "+", "-")) for cell in cells)
    assert cells == ["'=cmd|' calc'!A0.png", "two\\x0alines.png",
                     "'@sum.png"]
