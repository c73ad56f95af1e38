// The program every consumer project builds: it only needs s3repl to be found
// and usable, so it does the minimum a server does (mint, CAS, lookup) and
// checks the answers.
#include <s3repl/s3repl.hpp>

#include <cstdio>

int main() {
    s3repl::ReplicationManager manager;
    const auto older = manager.next_generation();
    const auto newer = manager.next_generation();
    const bool newer_accepted =
        manager.record_status_if_newer("src", "key", newer, s3repl::ReplicationStatus::Completed);
    const bool older_rejected = !manager.record_status_if_newer("src", "key", older, s3repl::ReplicationStatus::Failed);
    const bool looked_up = manager.lookup_status("src", "key") == s3repl::ReplicationStatus::Completed;
    if (!newer_accepted || !older_rejected || !looked_up) {
        std::puts("FAILED: s3repl answered wrongly");
        return 1;
    }
    std::printf("OK s3repl %d.%d.%d\n", S3REPL_VERSION_MAJOR, S3REPL_VERSION_MINOR, S3REPL_VERSION_PATCH);
    return 0;
}
