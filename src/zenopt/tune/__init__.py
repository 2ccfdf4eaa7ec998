"""The quality loop's search: Optuna studies over a config's hyperparameters.

``space`` declares and samples the searched values, ``storage`` opens where the study lives,
``study`` creates or joins it and counts the trial budget, ``search`` runs trials until the
target or the budget, and ``summary`` turns the study into the manifest's JSON. The training a
trial does is handed in as a function, so nothing here imports the training stack.
"""
