#include "listen_endpoint.hpp"

#include <string>

namespace portcullis::broker {

boost::asio::ip::tcp::endpoint listen_endpoint(const listener_config& l, std::size_t index,
                                               boost::asio::io_context& io) {
  using boost::asio::ip::tcp;
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(l.host, ec);
  if (!ec) return tcp::endpoint(addr, l.port);
  tcp::resolver resolver(io);
  auto results = resolver.resolve(l.host, std::to_string(l.port), ec);
  if (ec || results.empty()) {
    throw config_error("listeners[" + std::to_string(index) + "].bind", "cannot resolve host \"" + l.host + "\"");
  }
  return results.begin()->endpoint();
}

}  // namespace portcullis::broker
