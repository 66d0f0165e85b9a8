"""Screening a facility's own smears with trained models (docs/screen.md).

  files          which files are images, their ids, the manifest, pixel sizes, group tables
  stage          rule screen_cells: scale, white cells, P(ALL), domain check, verdicts
  domain         statistics of the training crops and the out-of-domain comparison
  outputs        overlays and QuPath GeoJSON
  page           rule screen_report: the combined tables and the review page
  bundle_build   rule screen_bundle: this run's models and their training statistics
  report_section the screening's summary in the workflow report

A fifth area on the shared core: it reads models through `leukoflow.bundle` and
`leukoflow.inference`, finds cells with `leukoflow.slides`, and imports no dataset package.
"""
