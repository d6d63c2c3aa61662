// Topic names, filters and matching (MQTT 3.1.1 §4.7 with the SPEC §6 character set).

#include <catch2/catch.hpp>

#include <string>

#include "portcullis/protocol/topic.hpp"

using namespace portcullis::protocol;

TEST_CASE("topic names") {
  SECTION("valid") {
    CHECK(is_valid_topic_name("a"));
    CHECK(is_valid_topic_name("sensors/t-1/temp_C~2"));
    CHECK(is_valid_topic_name("ABC/xyz/0189"));
    CHECK(is_valid_topic_name("/"));        // two empty levels
    CHECK(is_valid_topic_name("/a"));
    CHECK(is_valid_topic_name("a/"));
    CHECK(is_valid_topic_name("a//b"));
    CHECK(is_valid_topic_name(std::string(65535, 'x')));
  }
  SECTION("[MQTT-4.7.3-1] empty") {
    CHECK_FALSE(is_valid_topic_name(""));
  }
  SECTION("[MQTT-4.7.3-3] longer than 65535 bytes") {
    CHECK_FALSE(is_valid_topic_name(std::string(65536, 'x')));
  }
  SECTION("[MQTT-3.3.2-2] wildcards") {
    CHECK_FALSE(is_valid_topic_name("a/+"));
    CHECK_FALSE(is_valid_topic_name("#"));
    CHECK_FALSE(is_valid_topic_name("a/b#"));
  }
  SECTION("SPEC §6: $-topics are reserved") {
    CHECK_FALSE(is_valid_topic_name("$SYS/broker"));
    CHECK_FALSE(is_valid_topic_name("a/$b"));
  }
  SECTION("SPEC §6: characters outside [A-Za-z0-9_~-]") {
    CHECK_FALSE(is_valid_topic_name("a b"));
    CHECK_FALSE(is_valid_topic_name("a.b"));
    CHECK_FALSE(is_valid_topic_name("caf\xC3\xA9"));
    CHECK_FALSE(is_valid_topic_name(std::string_view("a\0", 2)));
  }
}

TEST_CASE("topic filters") {
  SECTION("valid") {
    CHECK(is_valid_topic_filter("a"));
    CHECK(is_valid_topic_filter("#"));
    CHECK(is_valid_topic_filter("+"));
    CHECK(is_valid_topic_filter("+/+"));
    CHECK(is_valid_topic_filter("/+"));
    CHECK(is_valid_topic_filter("a/+/c"));
    CHECK(is_valid_topic_filter("a/#"));
    CHECK(is_valid_topic_filter("+/#"));
    CHECK(is_valid_topic_filter("a//#"));
    CHECK(is_valid_topic_filter("/"));
    CHECK(is_valid_topic_filter(std::string(65535, 'f')));
  }
  SECTION("[MQTT-4.7.3-1] empty") {
    CHECK_FALSE(is_valid_topic_filter(""));
  }
  SECTION("[MQTT-4.7.3-3] longer than 65535 bytes") {
    CHECK_FALSE(is_valid_topic_filter(std::string(65536, 'f')));
  }
  SECTION("[MQTT-4.7.1-2] '#' not alone in the last level") {
    CHECK_FALSE(is_valid_topic_filter("a/#/b"));
    CHECK_FALSE(is_valid_topic_filter("a#"));
    CHECK_FALSE(is_valid_topic_filter("a/b#"));
    CHECK_FALSE(is_valid_topic_filter("#/"));
    CHECK_FALSE(is_valid_topic_filter("##"));
  }
  SECTION("[MQTT-4.7.1-3] '+' not alone in its level") {
    CHECK_FALSE(is_valid_topic_filter("a+"));
    CHECK_FALSE(is_valid_topic_filter("a/+b/c"));
    CHECK_FALSE(is_valid_topic_filter("++"));
  }
  SECTION("SPEC §6: $ and other characters") {
    CHECK_FALSE(is_valid_topic_filter("$SYS/#"));
    CHECK_FALSE(is_valid_topic_filter("a b/+"));
  }
}

TEST_CASE("topic matching [MQTT-4.7.1]") {
  SECTION("exact") {
    CHECK(topic_matches("a/b", "a/b"));
    CHECK_FALSE(topic_matches("a/b", "a/c"));
    CHECK_FALSE(topic_matches("a/b", "a/b/c"));
    CHECK_FALSE(topic_matches("a/b/c", "a/b"));
    CHECK_FALSE(topic_matches("a", "A"));  // case-sensitive
    CHECK(topic_matches("a//b", "a//b"));
    CHECK_FALSE(topic_matches("a/b", "a//b"));
  }
  SECTION("multi-level wildcard '#'") {
    CHECK(topic_matches("#", "a"));
    CHECK(topic_matches("#", "a/b/c"));
    CHECK(topic_matches("#", "/"));
    CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1"));
    CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
    CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
    CHECK(topic_matches("sport/#", "sport"));  // '#' also matches the parent
    CHECK(topic_matches("sport/#", "sport/"));
    CHECK_FALSE(topic_matches("sport/#", "sports"));
    CHECK_FALSE(topic_matches("sport/tennis/#", "sport"));
  }
  SECTION("single-level wildcard '+'") {
    CHECK(topic_matches("sport/tennis/+", "sport/tennis/player1"));
    CHECK(topic_matches("sport/tennis/+", "sport/tennis/player2"));
    CHECK_FALSE(topic_matches("sport/tennis/+", "sport/tennis/player1/ranking"));
    CHECK_FALSE(topic_matches("sport/+", "sport"));
    CHECK(topic_matches("sport/+", "sport/"));  // '+' matches an empty level
    CHECK(topic_matches("+", "a"));
    CHECK_FALSE(topic_matches("+", "/a"));
    CHECK(topic_matches("+/+", "/finance"));
    CHECK(topic_matches("/+", "/finance"));
    CHECK_FALSE(topic_matches("+", "/finance"));
    CHECK(topic_matches("a/+/c", "a//c"));
    CHECK(topic_matches("+/b/#", "x/b"));
    CHECK(topic_matches("+/b/#", "x/b/y/z"));
    CHECK_FALSE(topic_matches("+/b/#", "x/c/y"));
  }
  SECTION("[MQTT-4.7.2-1] wildcards at the start do not match $-topics") {
    CHECK_FALSE(topic_matches("#", "$SYS/x"));
    CHECK_FALSE(topic_matches("+/monitor/Clients", "$SYS/monitor/Clients"));
    CHECK(topic_matches("$SYS/#", "$SYS/monitor/Clients"));
    CHECK(topic_matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
  }
}
