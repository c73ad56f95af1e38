#pragma once

// Included first by every public header, so a C++14 build stops at one line
// naming the fix instead of hundreds of errors from the first C++17 construct.
// Not #error: g++ and clang++ keep compiling after it, while a missing include
// is fatal; the file name is the message. MSVC reports __cplusplus as 199711L
// unless /Zc:__cplusplus is given, hence _MSVC_LANG.
#if (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 201703L
#include "s3repl needs C++17 or newer: compile with -std=c++17 (or later)"
#endif
