# Test registration: C unit tests (tests/c/test_*.c), Lua tests run by the runwatch binary
# (tests/lua/test_*.lua), the test server's own tests, and libFuzzer harnesses (tests/fuzz).
set(RW_TESTS ${CMAKE_SOURCE_DIR}/tests)

# C unit tests: each tests/c/test_X.c is one executable linked to rw_core.
file(GLOB RW_C_TESTS CONFIGURE_DEPENDS ${RW_TESTS}/c/test_*.c)
foreach(src ${RW_C_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_compile_options(${name} PRIVATE ${RW_WARNINGS})
  target_link_libraries(${name} PRIVATE rw_core)
  add_test(NAME c/${name} COMMAND ${name})
  set_tests_properties(c/${name} PROPERTIES ENVIRONMENT "RW_SHARED=${CMAKE_SOURCE_DIR}/../shared"
                       SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()

# Lua tests: each tests/lua/test_X.lua runs as `runwatch once` against the loopback fixtures.
# A test named test_wb_*.lua runs inside tests/server/with-server.sh (the W&B test server).
file(GLOB RW_LUA_TESTS CONFIGURE_DEPENDS ${RW_TESTS}/lua/test_*.lua)
foreach(src ${RW_LUA_TESTS})
  get_filename_component(name ${src} NAME_WE)
  if(name MATCHES "^test_wb_")
    add_test(NAME lua/${name}
             COMMAND ${RW_TESTS}/server/with-server.sh -- ${RW_TESTS}/lua/run-test.sh
                     $<TARGET_FILE:runwatch> ${src})
  else()
    add_test(NAME lua/${name}
             COMMAND ${RW_TESTS}/lua/run-test.sh $<TARGET_FILE:runwatch> ${src})
  endif()
  set_tests_properties(lua/${name} PROPERTIES
    ENVIRONMENT "RW_TESTS=${RW_TESTS};RW_SHARED=${CMAKE_SOURCE_DIR}/../shared;RW_BIN=$<TARGET_FILE:runwatch>;LUA_PATH=${RW_TESTS}/lua/?.lua;;"
    SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()

# Shell tests: tests/sh/test_*.sh, for the CLI as a user sees it (exit codes, signals, output).
file(GLOB RW_SH_TESTS CONFIGURE_DEPENDS ${RW_TESTS}/sh/test_*.sh)
foreach(src ${RW_SH_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME sh/${name} COMMAND bash ${src})
  set_tests_properties(sh/${name} PROPERTIES
    ENVIRONMENT "RW_TESTS=${RW_TESTS};RW_SHARED=${CMAKE_SOURCE_DIR}/../shared;RW_BIN=$<TARGET_FILE:runwatch>;RW_SRC=${CMAKE_SOURCE_DIR}"
    SKIP_RETURN_CODE 77 TIMEOUT 900)
endforeach()

# Delivery guarantees (issue 12): one regression scenario per defect (tests/chaos/item*.sh) and the
# chaos suite (tests/chaos/chaos.sh); checks listed in tests/chaos/known-failures report XFAIL.
file(GLOB RW_CHAOS_TESTS CONFIGURE_DEPENDS ${RW_TESTS}/chaos/item*.sh ${RW_TESTS}/chaos/chaos.sh)
foreach(src ${RW_CHAOS_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME chaos/${name} COMMAND bash ${src})
  set_tests_properties(chaos/${name} PROPERTIES
    ENVIRONMENT "RW_BIN=$<TARGET_FILE:runwatch>;RW_SRC=${CMAKE_SOURCE_DIR}"
    SKIP_RETURN_CODE 77 TIMEOUT 600)
endforeach()

# The W&B test server's own tests (node:test), when its dependencies are installed.
if(EXISTS ${RW_TESTS}/server/node_modules/graphql)
  add_test(NAME server/node-tests COMMAND node --test ${RW_TESTS}/server/test/)
  set_tests_properties(server/node-tests PROPERTIES TIMEOUT 300)
endif()

# libFuzzer harnesses: tests/fuzz/fuzz_X.c, built with clang -DRW_FUZZ=ON; a bounded run each.
if(RW_FUZZ)
  file(GLOB RW_FUZZERS CONFIGURE_DEPENDS ${RW_TESTS}/fuzz/fuzz_*.c)
  foreach(src ${RW_FUZZERS})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${name} PRIVATE rw_core)
    string(REGEX REPLACE "^fuzz_" "" corpus ${name})
    # new units go to a scratch folder in the build tree (first corpus dir); the seeds stay clean
    file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz-corpus/${corpus})
    add_test(NAME fuzz/${name}
             COMMAND ${name} -max_total_time=20 -timeout=5 ${CMAKE_BINARY_DIR}/fuzz-corpus/${corpus}
                     ${RW_TESTS}/fuzz/corpus/${corpus})
  endforeach()
endif()
