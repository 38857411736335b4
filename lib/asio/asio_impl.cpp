// The one translation unit that compiles Asio's, Beast's and Asio SSL's
// out-of-line code (BOOST_ASIO_SEPARATE_COMPILATION and
// BOOST_BEAST_SEPARATE_COMPILATION are defined for the whole build), so each
// file that uses them parses the declarations only. This keeps a clean build
// within its time budget.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
