"""Labelling images with a deployed model in any exported format.

`images` reads the files, `predictor` loads a deployable (a run, a `.keras`
file, or an artifact run by its export format's runner), `prediction`
labels the files with it, `class_names` names the classes and
`predictions_csv` writes the results.
"""
