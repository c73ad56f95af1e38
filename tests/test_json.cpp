#include <s3repl/json.hpp>
#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

using s3repl::ReplicationStatus;

TEST_CASE("a config converts to the snapshot's shape", "[json]") {
    const s3repl::ReplicationConfig config{
        "arn:aws:iam::1:role/r",
        {s3repl::ReplicationRule{"r1", 7, false, {std::nullopt, {{"team", "a"}}}, "dst", std::string("GLACIER")},
         s3repl::ReplicationRule{"r2", 0, true, {std::string("logs/"), {}}, "dst2", std::nullopt}}};
    const nlohmann::json j = config;
    CHECK(j == nlohmann::json::parse(R"({"role":"arn:aws:iam::1:role/r","rules":[
        {"id":"r1","priority":7,"status_enabled":false,"filter":{"prefix":null,"tags":[["team","a"]]},
         "destination_bucket":"dst","destination_storage_class":"GLACIER"},
        {"id":"r2","priority":0,"status_enabled":true,"filter":{"prefix":"logs/","tags":[]},
         "destination_bucket":"dst2","destination_storage_class":null}]})"));
}

TEST_CASE("the config shape is the one the snapshot holds", "[json]") {
    s3repl::ReplicationManager manager;
    const s3repl::ReplicationConfig config{"role", {s3repl::ReplicationRule{"id", 1, true, {}, "dst", std::nullopt}}};
    manager.put_config("src", config);
    const nlohmann::json snapshot = nlohmann::json::parse(manager.to_json());
    CHECK(snapshot["by_bucket"]["src"] == nlohmann::json(config));
}

TEST_CASE("entries and stats convert with snapshot status words", "[json]") {
    s3repl::BasicReplicationManager<s3repl::ManualClock> manager(
        s3repl::ManualClock(s3repl::Timestamp{std::chrono::milliseconds(1500)}));
    manager.record_status_if_newer("b", "k", 42, ReplicationStatus::Replica);
    const nlohmann::json entry = *manager.lookup_entry("b", "k");
    CHECK(entry ==
          nlohmann::json{{"status", "Replica"}, {"generation", 42}, {"recorded_at", "1970-01-01T00:00:01.500Z"}});
    const nlohmann::json stats = manager.stats();
    CHECK(stats["entries_replica"] == 1);
    CHECK(stats["stamps_accepted"] == 1);
    CHECK(stats.size() == 9);
}
