"""The files and folders of a run directory, named once.

Only `one_keras.runs` reads these names: `RunDirectory` writes, resumes,
cleans and loads the files, `ownership` lists those a run wrote, and
`check_output_path` refuses to write over them.
"""

CONFIG_NAME = "config.json"
# What later commands need of the run's inputs (classes, data location,
# KD's teacher): `one_keras.training.train_inputs.inputs_record`.
INPUTS_NAME = "inputs.json"
CHECKPOINT_NAME = "checkpoint.keras"
BACKUP_NAME = "backup"
LOG_NAME = "log.csv"
TENSORBOARD_NAME = "tensorboard"
REPORT_NAME = "report.json"
MODEL_NAME = "model.keras"
TARGET_NAME = "target.keras"
ENSEMBLE_NAME = "ensemble.keras"
LOCK_NAME = "run.lock"
EXPORT_REPORT_NAME = "export_report.json"
# The learning curves drawn from the log when a run ends
# (one_keras.reports.curves).
CURVES_NAME = "curves.png"
# Under `multi_worker`, the folder of the workers other than the chief.
WORKERS_NAME = "workers"

# The run's manifest: written first, it marks the folder as a run and lists
# what the run wrote there (`one_keras.runs.ownership`).
MANIFEST_NAME = "one_keras_run.json"

# What marks a folder as a run directory, and what no other output may be.
RUN_FILES = (MANIFEST_NAME, CONFIG_NAME, REPORT_NAME, LOG_NAME, LOCK_NAME,
             CHECKPOINT_NAME, MODEL_NAME, TARGET_NAME, ENSEMBLE_NAME,
             EXPORT_REPORT_NAME, CURVES_NAME, INPUTS_NAME)
RUN_FOLDERS = (BACKUP_NAME, TENSORBOARD_NAME, WORKERS_NAME)


def deployable_file(name):
    """The file a run writes a deployable to: `<name>.keras`."""
    return f"{name}.keras"
