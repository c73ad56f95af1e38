# What vendoring s3repl (add_subdirectory or FetchContent) may leave in the
# parent: the s3repl::s3repl target, its options, and what CMake's own
# modules cache on the way. Call s3repl_vendoring_begin() before adding the
# subproject and s3repl_check_vendored(<its source dir>) after.

macro(s3repl_vendoring_begin)
    get_cmake_property(s3repl_variables_before VARIABLES)
    set(s3repl_cxx_flags_before "${CMAKE_CXX_FLAGS}")
endmacro()

# New variables the parent may see: our options; project()'s and
# FetchContent's bookkeeping; the cache entries of find_package, and of
# pkg_check_modules for hiredis (s3repl::redis; FindPkgConfig caches
# prefix_result too). Not CMAKE_PROJECT_VERSION: these parents' project()
# names no version, and ours must not become theirs (their CPack would
# package itself as s3repl).
set(s3repl_allowed_new_variables
    "^(S3REPL_(BUILD_TESTS|BUILD_EXAMPLES|BUILD_BENCHMARKS|INSTALL)|s3repl_(SOURCE_DIR|BINARY_DIR|IS_TOP_LEVEL|POPULATED)|FETCHCONTENT_.*|__cmake_.*|(nlohmann_json|date|pugixml)_DIR|FIND_PACKAGE_MESSAGE_DETAILS_.*|CMAKE_HAVE_LIBC_PTHREAD|PKG_CONFIG_(EXECUTABLE|ARGN|FOUND|VERSION_STRING)|hiredis_.*|pkgcfg_lib_hiredis_.*|__pkg_config_(checked|arguments)_hiredis|prefix_result|s3repl_variables_before|s3repl_cxx_flags_before)$")

function(s3repl_check_vendored source_dir)
    # First, before this function's own variables exist.
    get_cmake_property(variables VARIABLES)
    list(REMOVE_ITEM variables ${s3repl_variables_before})
    list(FILTER variables EXCLUDE REGEX "^(ARGC|ARGV[0-9]*|ARGN|CMAKE_CURRENT_FUNCTION.*|source_dir)$")
    foreach(option S3REPL_BUILD_TESTS S3REPL_BUILD_EXAMPLES S3REPL_BUILD_BENCHMARKS S3REPL_INSTALL)
        if(${option})
            message(FATAL_ERROR "vendored s3repl turned ${option} on")
        endif()
    endforeach()
    # s3repl_json (s3repl::json) exists exactly when nlohmann/json was found
    # (by s3repl, which leaves nlohmann_json_DIR, or by the parent).
    set(expected_targets s3repl)
    if(nlohmann_json_DIR OR TARGET nlohmann_json::nlohmann_json)
        list(APPEND expected_targets s3repl_json)
    endif()
    get_property(targets DIRECTORY ${source_dir} PROPERTY BUILDSYSTEM_TARGETS)
    # s3repl_aws_xml (s3repl::aws_xml) likewise exists exactly when pugixml was found.
    if(pugixml_DIR OR TARGET pugixml::pugixml)
        list(APPEND expected_targets s3repl_aws_xml)
    endif()
    # s3repl_redis (s3repl::redis) likewise exists exactly when hiredis was
    # found by pkg-config (a GLOBAL imported target, so the parent sees it).
    if(TARGET PkgConfig::hiredis)
        list(APPEND expected_targets s3repl_redis)
    endif()
    if(NOT targets STREQUAL expected_targets)
        message(FATAL_ERROR "vendored s3repl defined targets '${targets}' (expected '${expected_targets}')")
    endif()
    get_property(subdirectories DIRECTORY ${source_dir} PROPERTY SUBDIRECTORIES)
    if(subdirectories)
        message(FATAL_ERROR "vendored s3repl added subdirectories: ${subdirectories}")
    endif()
    foreach(variable ${variables})
        if(NOT variable MATCHES "${s3repl_allowed_new_variables}")
            message(FATAL_ERROR "vendored s3repl set ${variable} (= '${${variable}}') in its parent")
        endif()
    endforeach()
    if(NOT CMAKE_CXX_FLAGS STREQUAL s3repl_cxx_flags_before)
        message(FATAL_ERROR "vendored s3repl changed CMAKE_CXX_FLAGS to '${CMAKE_CXX_FLAGS}'")
    endif()
    get_target_property(options s3repl::s3repl INTERFACE_COMPILE_OPTIONS)
    if(options)
        message(FATAL_ERROR "s3repl::s3repl imposes compile options on consumers: ${options}")
    endif()
endfunction()
