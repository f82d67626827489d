# fuzz:run_<target>: a short libFuzzer run over a copy of the seeds and kept crashes, in the
# build directory (the source tree is never written). New inputs and any crash land in WORK.
#   cmake -DFUZZER=exe -DCORPUS=dir -DCRASHES=dir -DWORK=dir -DSECONDS=n -P run_fuzzer.cmake
foreach(v FUZZER CORPUS CRASHES WORK SECONDS)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_fuzzer.cmake needs -D${v}=...")
  endif()
endforeach()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/artifacts)
file(GLOB seeds ${CORPUS}/* ${CRASHES}/*)
foreach(f IN LISTS seeds)
  get_filename_component(name ${f} NAME)
  if(NOT IS_DIRECTORY ${f} AND NOT name MATCHES "^(README|\\.)")
    get_filename_component(parent ${f} DIRECTORY)
    get_filename_component(kind ${parent} DIRECTORY)
    get_filename_component(kind ${kind} NAME)
    file(COPY_FILE ${f} ${WORK}/corpus/${kind}-${name})
  endif()
endforeach()

execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -rss_limit_mb=2048 -timeout=25 -print_final_stats=1
          -artifact_prefix=${WORK}/artifacts/ ${WORK}/corpus
  WORKING_DIRECTORY ${WORK}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(GLOB found ${WORK}/artifacts/*)
  message(FATAL_ERROR "the fuzzer failed (exit ${rc}); inputs kept: ${found}\n"
                      "Reproduce with: ${FUZZER} <input>; keep the input in tests/fuzz/crashes/.")
endif()
