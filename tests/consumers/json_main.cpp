// The consumer of s3repl::json (s3repl/json.hpp): built when the package was
// asked for its json component.
#include <s3repl/json.hpp>
#include <s3repl/s3repl.hpp>

#include <cstdio>

int main() {
    s3repl::ReplicationManager manager;
    manager.record_status_if_newer("src", "key", manager.next_generation(), s3repl::ReplicationStatus::Pending);
    const nlohmann::json stats = manager.stats();
    if (stats.at("entries_pending") != 1) {
        std::puts("FAILED: s3repl::json answered wrongly");
        return 1;
    }
    std::puts("OK s3repl::json");
    return 0;
}
