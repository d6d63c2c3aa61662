// Event log lines (logging.hpp): what the JSON format lifts into fields, and what it leaves
// as free text. A shipper filtering on "reason" relies on the first; a line that only looks
// like pairs must never produce fields that say something else.

#include "portcullis/broker/logging.hpp"

#include <catch2/catch.hpp>

using namespace portcullis::broker;

namespace {

std::string field(const log_event& e, std::string_view key) {
  for (const auto& [k, v] : e.fields) {
    if (k == key) return v;
  }
  FAIL("no field " << key);
  return {};
}

}  // namespace

TEST_CASE("a refusal line splits into its event and its pairs, quoted values unescaped", "[log]") {
  std::string line = "connect refused listener=x5c remote=127.0.0.1:5000 client_id=" + log_value("dev 1 \"x\"") +
                     " tenant= reason=jwt.exp detail=" + log_quoted("token expired at 5 (now 9) a=b \\ \"q\"");
  log_event e;
  REQUIRE(parse_log_event(line, e));
  CHECK(e.event == "connect refused");
  REQUIRE(e.fields.size() == 6);
  CHECK(e.fields[0].first == "listener");
  CHECK(field(e, "remote") == "127.0.0.1:5000");
  CHECK(field(e, "client_id") == "dev 1 \"x\"");
  CHECK(field(e, "tenant").empty());
  CHECK(field(e, "reason") == "jwt.exp");
  CHECK(field(e, "detail") == "token expired at 5 (now 9) a=b \\ \"q\"");
}

TEST_CASE("plain values stay bare, anything misreadable is quoted", "[log]") {
  CHECK(log_value("device-7") == "device-7");
  CHECK(log_value("") == "\"\"");
  CHECK(log_value("a b") == "\"a b\"");
  CHECK(log_value("k=v") == "\"k=v\"");
  CHECK(log_quoted("a\"b\\c") == "\"a\\\"b\\\\c\"");
}

TEST_CASE("free text and malformed pairs give no fields", "[log]") {
  log_event e;
  for (std::string_view line : {
           "store /var/lib/portcullis/portcullis.db open: 2 tenant CA(s), 5 binding(s)",  // no pair
           "closing client_id=a tenant=t remote=r: kicked",          // trailing free text
           "x key=\"unterminated",                                   // open quote
           "x key=\"bad \\n escape\"",                               // only \" and \\ are escapes
           "x key=a\"b",                                             // quote inside a bare value
           "x a=1 a=2",                                              // repeated key
           "x msg=overwrite",                                        // a field the line itself has
           "x level=error",                                          // same
           "x key=\"a\"b=c",                                         // no space after a quoted value
           "x key=a  b=c",                                           // two spaces
           "key=value",                                              // no event words
           "x Key=v",                                                // keys are lower case
       }) {
    INFO(line);
    CHECK_FALSE(parse_log_event(line, e));
  }
}

TEST_CASE("event words end at the first key, and may hold punctuation", "[log]") {
  log_event e;
  REQUIRE(parse_log_event("protocol error, closing client_id=c tenant=t remote=r listener=l reason=mqtt.qos2", e));
  CHECK(e.event == "protocol error, closing");
  CHECK(field(e, "reason") == "mqtt.qos2");
  REQUIRE(parse_log_event("listening name=mqtt protocol=mqtt address=127.0.0.1:1883 auth=x5c-jwt,anonymous", e));
  CHECK(field(e, "auth") == "x5c-jwt,anonymous");
}
