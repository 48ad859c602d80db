"""A training run's directory as one object (`RunDirectory`), the state it
resumes from (`ResumeState`) and what is not to be written over in it
(`check_output_path`). A saved model is loaded with
`one_keras.methods.saved_models.load_model`, which registers the methods'
classes first.

The modules here are the only ones that know a run's layout: `layout`
names its files, `lock` is its `run.lock`, `backup` its per-epoch states,
`ownership` its manifest (what it wrote, where a run may write),
`resume` what may resume and from what, `keras_files` the safe loading
and saving of its `.keras` files, `output_path` where other tools may
write.
The names below are imported on first use, so reading a run (e.g.
`one-predict --help`) does not start Keras.
"""

from one_keras.utils import lazy_names


_LAZY = {
    "ResumeState": "one_keras.runs.state",
    "RunDirectory": "one_keras.runs.directory",
    "check_output_path": "one_keras.runs.output_path",
}
__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_names.attach(__name__, _LAZY)
