# Scheduling of the slow tests under `ctest -j N` (docs/testing.md, "Test time"). COST is
# about the seconds each takes alone on 2 cores (2026-11-30, session 6), so that ctest starts
# the longest first even without a previous run's cost data (a fresh clone; a COST set here
# also wins over that data) and the short ones fill the end. ref_kill_windows runs two sweeps
# at a time itself; it keeps one processor slot (no PROCESSORS 2): ctest (3.25) starts a
# 2-slot test only when both slots are free at once, which in a -j2 run full of 1-slot tests
# happened only at the very end, where it ran alone for 80-125 s. As the costliest it starts
# first, beside the next one, and its two workers share the cores with it.
set(qk_slow_tests
  ref_kill_windows:90 ref_gemma3_270m:65 ref_hf_parity_long:35 ref_sweep:29 ref_headdim:17
  ref_static_weights:15 ref_cli_errors:14 ref_hf_config_defaults:13 ref_hf_parity_gpt:13
  ref_hf_parity_gemma2_olmo2_phi3:12 ref_hf_parity_rope:12 ref_hf_parity_bf16:12 ref_rope_sweep:11
  ref_rope_geometry:10 ref_swmr_reader:10 ref_capture_cli:10 ref_snapshot_roundtrip:8
  ref_hf_parity_config_variants:8 ref_study:8 ref_report_inputs:7 ref_score_model:6)
foreach(entry IN LISTS qk_slow_tests)
  string(REPLACE ":" ";" entry "${entry}")
  list(GET entry 0 name)
  list(GET entry 1 seconds)
  if(TEST ${name})
    set_tests_properties(${name} PROPERTIES COST ${seconds})
  endif()
endforeach()
