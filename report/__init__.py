"""The study report: an experiment's runs read back from MLflow (:mod:`report.build`) and
rendered into one self-contained HTML page (:mod:`report.page`, a Jinja2 template). It reads
what :mod:`search` and :mod:`tracking` recorded and changes nothing."""
