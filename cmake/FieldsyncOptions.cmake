# Build switches in one place: warnings, sanitizers, ccache.
option(FIELDSYNC_BUILD_TESTS "Build the tests" ON)
option(FIELDSYNC_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(FIELDSYNC_WERROR "Treat warnings as errors" OFF)

find_program(FIELDSYNC_CCACHE ccache)
if(FIELDSYNC_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${FIELDSYNC_CCACHE})
  set(CMAKE_C_COMPILER_LAUNCHER ${FIELDSYNC_CCACHE})
endif()

add_library(fieldsync_warnings INTERFACE)
target_compile_options(fieldsync_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                       $<$<BOOL:${FIELDSYNC_WERROR}>:-Werror>)
# GCC 12 at -O2 reports a false -Wrestrict inside libstdc++'s operator+ on strings (GCC bug
# 105651, fixed in GCC 13); it says nothing about our code.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(fieldsync_warnings INTERFACE -Wno-restrict)
endif()

if(FIELDSYNC_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Every fieldsync target links this for its warnings.
function(fieldsync_target_defaults target)
  target_link_libraries(${target} PRIVATE fieldsync_warnings)
endfunction()
