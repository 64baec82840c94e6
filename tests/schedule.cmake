# Scheduling of the slow tests under `ctest -j N` (docs/testing.md, "Test time"). COST is
# about the seconds each takes alone on 2 cores (2026-11-30), so that ctest starts the longest
# first even without a previous run's cost data (a fresh clone) and the short ones fill the
# end. ref_kill_windows runs two sweeps at a time itself: it counts as two processors (45 s
# alone since its kill points run in a fork server).
set(qk_slow_tests
  ref_kill_windows:45 ref_hf_parity_long:75 ref_hf_parity_bf16:60 ref_hf_config_defaults:60
  ref_sweep:54 ref_gemma3_270m:50 ref_hf_parity_gpt:50 ref_hf_parity_gemma2_olmo2_phi3:45
  ref_hf_parity_rope:45 ref_snapshot_roundtrip:36 ref_rope_geometry:30 ref_bo_seed_go:28
  ref_capture_cli:28 ref_rope_sweep:28 ref_cli_errors:25 ref_headdim:24 ref_score_model:23
  ref_safetensors_strict:18 ref_study:16 ref_static_weights:12)
foreach(entry IN LISTS qk_slow_tests)
  string(REPLACE ":" ";" entry "${entry}")
  list(GET entry 0 name)
  list(GET entry 1 seconds)
  if(TEST ${name})
    set_tests_properties(${name} PROPERTIES COST ${seconds})
  endif()
endforeach()
if(TEST ref_kill_windows)
  set_tests_properties(ref_kill_windows PROPERTIES PROCESSORS 2)
endif()
