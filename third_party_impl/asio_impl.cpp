// The single translation unit that compiles Boost.Asio (with SSL) and Boost.Beast.
// Every other file includes them with BOOST_ASIO_SEPARATE_COMPILATION /
// BOOST_BEAST_SEPARATE_COMPILATION defined (see CMakeLists.txt), so the heavy
// implementation templates are instantiated here once instead of in every file.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
