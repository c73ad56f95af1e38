// s3repl::detail::TextBuffer, the growing text the snapshot writer fills: a
// text reserved for its size is written in place, never copied on the way.
// A copy of a 1 GB snapshot would cost a second gigabyte and its page faults.

#include <s3repl/detail/snapshot_writer.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>

TEST_CASE("a reserved snapshot text fills in place up to its reservation", "[snapshot]") {
    const std::size_t reserved = std::size_t{4} << 20;
    s3repl::detail::TextBuffer text;
    text.reserve(reserved);
    const void* const start = text.extend(1);
    const std::string piece(100, 'x');
    while (text.size() + piece.size() <= reserved) {
        text += piece;
        REQUIRE(static_cast<const void*>(text.view().data()) == start); // never moved: no copy of what was written
    }
    CHECK(text.size() > reserved - piece.size());
    const std::string whole = std::move(text).take();
    CHECK(whole.size() == reserved / piece.size() * piece.size());
    CHECK(whole.find_first_not_of('x') == std::string::npos);
}

TEST_CASE("a snapshot text grows past its reservation and keeps what was written", "[snapshot]") {
    s3repl::detail::TextBuffer text;
    text.reserve(1000);
    std::string expected;
    for (int i = 0; i < 100000; ++i) {
        const std::string piece = std::to_string(i) + ",";
        text += piece;
        expected += piece;
    }
    CHECK(text.view() == expected);
    CHECK(std::move(text).take() == expected);
}
