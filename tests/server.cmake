# Server tests driven by the official `openai` / `@anthropic-ai/sdk` npm clients and headless Chromium
# (tests/server/*.mjs, run with `node --test`).
#
find_program(MM_NODE_EXECUTABLE node)
if(NOT MM_NODE_EXECUTABLE)
  message(STATUS "node not found: server client tests (tests/server) are not registered")
  return()
endif()
# The npm clients (package-lock.json) are installed on first use when node_modules is missing.
find_program(MM_NPM_EXECUTABLE npm)
if(MM_NPM_EXECUTABLE)
  add_test(NAME server_npm_install
           COMMAND sh -c "[ -d node_modules ] || ${MM_NPM_EXECUTABLE} ci --no-audit --no-fund"
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/server)
  set_tests_properties(server_npm_install PROPERTIES FIXTURES_SETUP server_npm TIMEOUT 300)
endif()
add_test(NAME server_clients
         COMMAND ${MM_NODE_EXECUTABLE} --test --test-concurrency=1 ${CMAKE_CURRENT_SOURCE_DIR}/server/
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(server_clients PROPERTIES TIMEOUT 300 FIXTURES_REQUIRED server_npm
  ENVIRONMENT "MM_CLI_PATH=$<TARGET_FILE:minimax>;MM_SHARED_DIR=${CMAKE_SOURCE_DIR}/../shared")
