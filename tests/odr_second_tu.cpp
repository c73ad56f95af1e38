// A second translation unit including every header again: with the test
// files it makes the link fail if any header defines a non-inline entity.
#include <s3repl/aws_json.hpp> // optional, so not in the umbrella
#include <s3repl/aws_xml.hpp>  // optional (pugixml)
#include <s3repl/json.hpp>     // optional
#include <s3repl/s3repl.hpp>
#if __has_include(<hiredis/hiredis.h>)
#include <s3repl/redis.hpp> // optional (hiredis)
#endif
