// SUBSCRIBE, SUBACK, UNSUBSCRIBE (MQTT 3.1.1 §3.8-3.10): byte-exact vectors,
// round trips, one SECTION per malformed case.

#include <catch2/catch.hpp>

#include "portcullis/protocol/codec.hpp"
#include "test_util.hpp"

using namespace portcullis::protocol;
using namespace portcullis::protocol::test;

TEST_CASE("SUBSCRIBE: byte-exact") {
  const bytes wire = {
      0x82,                            // SUBSCRIBE, flags 0b0010
      0x0E,                            // remaining length 14
      0x00, 0x0A,                      // packet id 10
      0x00, 0x03, 'a', '/', '+',       // filter "a/+"
      0x01,                            // requested QoS 1
      0x00, 0x03, 'b', '/', '#',       // filter "b/#"
      0x02,                            // requested QoS 2
  };
  const auto s = decode_as<subscribe>(wire);
  CHECK(s.packet_id == 10);
  REQUIRE(s.subscriptions.size() == 2);
  CHECK(s.subscriptions[0] == subscription{"a/+", 1});
  CHECK(s.subscriptions[1] == subscription{"b/#", 2});
  CHECK(encode_bytes(s) == wire);
}

TEST_CASE("SUBSCRIBE: decode does not judge wildcard placement (broker answers 0x80)") {
  const bytes wire = {0x82, 0x08, 0x00, 0x01, 0x00, 0x03, 'a', '#', 'b', 0x00};
  CHECK(decode_as<subscribe>(wire).subscriptions[0].filter == "a#b");
}

TEST_CASE("SUBSCRIBE: an empty filter decodes (SPEC §6: the broker answers 0x80 for it)") {
  const bytes wire = {0x82, 0x09, 0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 'a', 0x01};
  const auto s = decode_as<subscribe>(wire);
  REQUIRE(s.subscriptions.size() == 2);
  CHECK(s.subscriptions[0].filter.empty());
  CHECK(s.subscriptions[1] == subscription{"a", 1});
}

TEST_CASE("SUBACK: byte-exact") {
  const bytes wire = {
      0x90,                    // SUBACK
      0x06,                    // remaining length 6
      0x00, 0x0A,              // packet id 10
      0x00, 0x01, 0x02, 0x80,  // granted QoS 0, 1, 2, failure
  };
  const auto s = decode_as<suback>(wire);
  CHECK(s.packet_id == 10);
  CHECK(s.return_codes == std::vector<std::uint8_t>{0x00, 0x01, 0x02, suback_failure});
  CHECK(encode_bytes(s) == wire);
}

TEST_CASE("UNSUBSCRIBE: byte-exact") {
  const bytes wire = {
      0xA2,                       // UNSUBSCRIBE, flags 0b0010
      0x0A,                       // remaining length 10
      0x00, 0x0B,                 // packet id 11
      0x00, 0x03, 'a', '/', '+',  // filter "a/+"
      0x00, 0x01, 'c',            // filter "c"
  };
  const auto u = decode_as<unsubscribe>(wire);
  CHECK(u.packet_id == 11);
  CHECK(u.filters == std::vector<std::string>{"a/+", "c"});
  CHECK(encode_bytes(u) == wire);
}

TEST_CASE("SUBSCRIBE family: round trips") {
  require_round_trip(subscribe{1, {{"a", 0}}});
  require_round_trip(subscribe{65535, {{"#", 2}, {"+/x/+", 1}, {std::string(500, 'f'), 0}}});
  require_round_trip(suback{2, {0x80}});
  require_round_trip(suback{3, {0, 1, 2, 0x80, 1}});
  require_round_trip(unsubscribe{4, {"a/#"}});
  require_round_trip(unsubscribe{5, {"x", "y/+", "\xC3\xA9t\xC3\xA9"}});  // "été"
}

TEST_CASE("SUBSCRIBE: malformed") {
  SECTION("[MQTT-3.8.3-3] no topic filter") {
    CHECK(error_of({0x82, 0x02, 0x00, 0x01}) == decode_error::empty_subscription_list);
  }
  SECTION("[MQTT-2.3.1-1] packet id 0") {
    CHECK(error_of({0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 'a', 0x00}) == decode_error::zero_packet_id);
  }
  SECTION("[MQTT-3-8.3-4] requested QoS 3") {
    CHECK(error_of({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x03}) == decode_error::invalid_qos);
  }
  SECTION("[MQTT-3-8.3-4] reserved bits in the requested-QoS byte") {
    CHECK(error_of({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x04}) == decode_error::invalid_subscribe_options);
  }
  SECTION("[MQTT-3-8.3-4] top bit in the requested-QoS byte") {
    CHECK(error_of({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x81}) == decode_error::invalid_subscribe_options);
  }
  SECTION("[MQTT-3.8.3-1] topic filter is not UTF-8") {
    CHECK(error_of({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0xFE, 0x00}) == decode_error::invalid_utf8);
  }
  SECTION("[MQTT-1.5.3-2] topic filter contains U+0000") {
    CHECK(error_of({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00}) == decode_error::utf8_null_character);
  }
  SECTION("[MQTT-3.8.3-1] filter without its QoS byte") {
    CHECK(error_of({0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'}) == decode_error::length_mismatch);
  }
  SECTION("[MQTT-3.8.3-1] second filter truncated") {
    CHECK(error_of({0x82, 0x08, 0x00, 0x01, 0x00, 0x01, 'a', 0x00, 0x00, 0x05}) == decode_error::length_mismatch);
  }
  SECTION("packet id truncated") {
    CHECK(error_of({0x82, 0x01, 0x00}) == decode_error::length_mismatch);
  }
  SECTION("[MQTT-3.8.1-1] fixed-header flags 0b0000") {
    CHECK(error_of({0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00}) == decode_error::invalid_fixed_header_flags);
  }
}

TEST_CASE("SUBACK: malformed") {
  SECTION("[MQTT-3.9.3-2] return code 0x03") {
    CHECK(error_of({0x90, 0x03, 0x00, 0x01, 0x03}) == decode_error::invalid_return_code);
  }
  SECTION("[MQTT-3.9.3-2] return code 0x81") {
    CHECK(error_of({0x90, 0x04, 0x00, 0x01, 0x00, 0x81}) == decode_error::invalid_return_code);
  }
  SECTION("no return codes") {
    CHECK(error_of({0x90, 0x02, 0x00, 0x01}) == decode_error::empty_subscription_list);
  }
  SECTION("[MQTT-2.3.1-1] packet id 0") {
    CHECK(error_of({0x90, 0x03, 0x00, 0x00, 0x00}) == decode_error::zero_packet_id);
  }
  SECTION("[MQTT-2.2.2-2] fixed-header flags") {
    CHECK(error_of({0x92, 0x03, 0x00, 0x01, 0x00}) == decode_error::invalid_fixed_header_flags);
  }
}

TEST_CASE("UNSUBSCRIBE: malformed") {
  SECTION("[MQTT-3.10.3-2] no topic filter") {
    CHECK(error_of({0xA2, 0x02, 0x00, 0x01}) == decode_error::empty_subscription_list);
  }
  SECTION("[MQTT-2.3.1-1] packet id 0") {
    CHECK(error_of({0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, 'a'}) == decode_error::zero_packet_id);
  }
  SECTION("[MQTT-4.7.3-1] empty topic filter") {
    CHECK(error_of({0xA2, 0x04, 0x00, 0x01, 0x00, 0x00}) == decode_error::invalid_topic_filter);
  }
  SECTION("[MQTT-3.10.3-1] topic filter encodes a surrogate") {
    CHECK(error_of({0xA2, 0x07, 0x00, 0x01, 0x00, 0x03, 0xED, 0xBF, 0xBF}) == decode_error::utf8_surrogate);
  }
  SECTION("filter length overruns the packet") {
    CHECK(error_of({0xA2, 0x05, 0x00, 0x01, 0x00, 0x02, 'a'}) == decode_error::length_mismatch);
  }
  SECTION("[MQTT-3.10.1-1] fixed-header flags 0b0000") {
    CHECK(error_of({0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'}) == decode_error::invalid_fixed_header_flags);
  }
}
