#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

/// The one place the version lives; CMakeLists.txt reads it from here.
#define S3REPL_VERSION_MAJOR 0
#define S3REPL_VERSION_MINOR 2
#define S3REPL_VERSION_PATCH 0

#define S3REPL_VERSION (S3REPL_VERSION_MAJOR * 10000 + S3REPL_VERSION_MINOR * 100 + S3REPL_VERSION_PATCH)
