"""Statistics for eval scores (Miller 2024, "Adding Error Bars to Evals", arXiv 2411.00640).

Pure functions on arrays: no DataFrames, no I/O. statsmodels / scipy supply every formula they
have; what is written out here (clustered SE, paired SE, Tango's interval, power) is checked against them or
against shared/reference/stats_vectors.json in tests/test_report_stats.py.

One file per job; import from the file that owns a name (this package imports nothing):
- base: ALPHA, POWER, ArrayLike, as_array, z_crit, t_crit, is_binary
- intervals: one variant's mean, SEs and CIs (estimate_mean, proportion_ci, stderr_clt, seed_spread)
- clustered: SEs clustered by item (stderr_clustered and the forms it is checked against)
- paired: two variants on the same items (paired_test, paired_difference, McNemar)
- tango: Tango's score interval for paired 0/1 items (tango_ci), the paired CI the report uses for them
- signflip: the exact / Monte-Carlo sign-flip test behind paired_test's p
- multitest: Correction, adjust_pvalues, corrected_alpha
- equivalence: tost
- power: items needed, MDE and power (normal and t quantiles)
- conditions: the between-condition (prompt, seed) SD net of sampling noise, its item-bootstrap CI and permutation test
"""
