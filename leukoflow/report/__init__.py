"""The HTML report: one self-contained page.

  html        escaping, tables, figures as data URIs, the page shell (no script)
  figures     confusion matrices and ROC curves
  framework   ReportInputs, ReportContext, Section specs, metric tables: what sections build on
  provenance  config, git commit, software, machine, per-job time and memory
  compose     the page: every dataset's sections in order, then provenance

Dataset packages import `framework` (and `html`, `figures`) only; `compose` is the one module
that imports the dataset packages, and nothing imports `compose` but the report rule.
"""
