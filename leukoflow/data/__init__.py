"""Data in: the four datasets' readers, the synthetic generator, manifests and the summary.

datasets        the registry: dataset keys, titles, class names
readers/        one reader per real on-disk layout -> manifest tables
synthetic/      writes the four layouts with planted truth (demo)
manifest        manifest files and their provenance record
summary         counts, sizes and contact sheets per dataset
report_section  the report's data-source and dataset sections
"""
