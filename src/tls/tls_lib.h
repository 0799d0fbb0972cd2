/*
 * tls_lib.h - OpenSSL as the server side uses it, through pointers that
 * tls_lib_load fills from libssl.so.3 (dlopen) the first time a service
 * has a tls block. preforkd is not linked with libssl or libcrypto: a
 * server without TLS never maps, relocates or initialises them.
 *
 * Include this (and no <openssl/...> header) in the files that call
 * OpenSSL: every name in TLS_LIB_SYMS becomes a call through tls_lib,
 * including those reached through OpenSSL's own macros (SSL_CTX_set_mode
 * expands to SSL_CTX_ctrl, which expands to tls_lib.SSL_CTX_ctrl).
 */
#ifndef PF_TLS_LIB_H
#define PF_TLS_LIB_H

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define TLS_LIB_SYMS \
	X(BIO_ctrl) X(ERR_clear_error) X(ERR_peek_last_error) X(ERR_reason_error_string) \
	X(EVP_CIPHER_get_iv_length) X(EVP_DecryptInit_ex) X(EVP_EncryptInit_ex) \
	X(EVP_MAC_CTX_set_params) X(EVP_aes_256_cbc) X(EVP_sha256) X(HMAC) \
	X(OPENSSL_cleanse) X(OSSL_PARAM_construct_end) X(OSSL_PARAM_construct_octet_string) \
	X(OSSL_PARAM_construct_utf8_string) X(OpenSSL_version) X(RAND_bytes) \
	X(SSL_CIPHER_get_name) X(SSL_CTX_callback_ctrl) X(SSL_CTX_check_private_key) \
	X(SSL_CTX_ctrl) X(SSL_CTX_free) X(SSL_CTX_get0_certificate) X(SSL_CTX_get_ex_data) \
	X(SSL_CTX_new) X(SSL_CTX_set_alpn_select_cb) X(SSL_CTX_set_cipher_list) \
	X(SSL_CTX_set_ciphersuites) X(SSL_CTX_set_ex_data) X(SSL_CTX_set_num_tickets) \
	X(SSL_CTX_set_options) X(SSL_CTX_set_session_id_context) X(SSL_CTX_set_timeout) \
	X(SSL_CTX_set_tlsext_ticket_key_evp_cb) X(SSL_CTX_use_PrivateKey_file) \
	X(SSL_CTX_use_certificate_chain_file) X(SSL_accept) X(SSL_free) \
	X(SSL_get0_alpn_selected) X(SSL_get_SSL_CTX) X(SSL_get_current_cipher) \
	X(SSL_get_error) X(SSL_get_servername) X(SSL_get_version) X(SSL_get_wbio) \
	X(SSL_has_pending) X(SSL_in_init) X(SSL_new) X(SSL_pending) X(SSL_read) \
	X(SSL_select_next_proto) X(SSL_sendfile) X(SSL_session_reused) X(SSL_set_SSL_CTX) \
	X(SSL_set_fd) X(SSL_shutdown) X(SSL_write) X(TLS_server_method) \
	X(X509_check_host) X(X509_cmp_current_time) X(X509_get0_notAfter) \
	X(X509_get0_notBefore) X(BIO_free) X(BIO_new) X(BIO_read) X(BIO_s_mem) X(BIO_write) \
	X(SSL_do_handshake) X(SSL_get_rbio) X(SSL_set_accept_state) X(SSL_set_bio) \
	X(SSL_set_connect_state) X(TLS_client_method) \
	X(BIO_get_data) X(BIO_set_data) X(BIO_set_init) X(BIO_set_flags) X(BIO_clear_flags) \
	X(BIO_test_flags) X(BIO_meth_new) X(BIO_meth_free) X(BIO_meth_set_read) \
	X(BIO_meth_set_write) X(BIO_meth_set_ctrl) X(BIO_get_new_index)

struct tls_lib {
#define X(f) __typeof__(f) *f; /* NOLINT(bugprone-macro-parentheses): a declarator */
	TLS_LIB_SYMS
#undef X
};
extern struct tls_lib tls_lib;

/* Load libssl once (the master, in a configuration transaction): 0, or -1 with a message. */
int tls_lib_load(char *err, size_t errlen);
/* Has tls_lib_load succeeded in this process (or before its fork)? */
int tls_lib_loaded(void);

#ifndef TLS_LIB_IMPL
#define BIO_ctrl (tls_lib.BIO_ctrl)
#define ERR_clear_error (tls_lib.ERR_clear_error)
#define ERR_peek_last_error (tls_lib.ERR_peek_last_error)
#define ERR_reason_error_string (tls_lib.ERR_reason_error_string)
#define EVP_CIPHER_get_iv_length (tls_lib.EVP_CIPHER_get_iv_length)
#define EVP_DecryptInit_ex (tls_lib.EVP_DecryptInit_ex)
#define EVP_EncryptInit_ex (tls_lib.EVP_EncryptInit_ex)
#define EVP_MAC_CTX_set_params (tls_lib.EVP_MAC_CTX_set_params)
#define EVP_aes_256_cbc (tls_lib.EVP_aes_256_cbc)
#define EVP_sha256 (tls_lib.EVP_sha256)
#define HMAC (tls_lib.HMAC)
#define OPENSSL_cleanse (tls_lib.OPENSSL_cleanse)
#define OSSL_PARAM_construct_end (tls_lib.OSSL_PARAM_construct_end)
#define OSSL_PARAM_construct_octet_string (tls_lib.OSSL_PARAM_construct_octet_string)
#define OSSL_PARAM_construct_utf8_string (tls_lib.OSSL_PARAM_construct_utf8_string)
#define OpenSSL_version (tls_lib.OpenSSL_version)
#define RAND_bytes (tls_lib.RAND_bytes)
#define SSL_CIPHER_get_name (tls_lib.SSL_CIPHER_get_name)
#define SSL_CTX_callback_ctrl (tls_lib.SSL_CTX_callback_ctrl)
#define SSL_CTX_check_private_key (tls_lib.SSL_CTX_check_private_key)
#define SSL_CTX_ctrl (tls_lib.SSL_CTX_ctrl)
#define SSL_CTX_free (tls_lib.SSL_CTX_free)
#define SSL_CTX_get0_certificate (tls_lib.SSL_CTX_get0_certificate)
#define SSL_CTX_get_ex_data (tls_lib.SSL_CTX_get_ex_data)
#define SSL_CTX_new (tls_lib.SSL_CTX_new)
#define SSL_CTX_set_alpn_select_cb (tls_lib.SSL_CTX_set_alpn_select_cb)
#define SSL_CTX_set_cipher_list (tls_lib.SSL_CTX_set_cipher_list)
#define SSL_CTX_set_ciphersuites (tls_lib.SSL_CTX_set_ciphersuites)
#define SSL_CTX_set_ex_data (tls_lib.SSL_CTX_set_ex_data)
#define SSL_CTX_set_num_tickets (tls_lib.SSL_CTX_set_num_tickets)
#define SSL_CTX_set_options (tls_lib.SSL_CTX_set_options)
#define SSL_CTX_set_session_id_context (tls_lib.SSL_CTX_set_session_id_context)
#define SSL_CTX_set_timeout (tls_lib.SSL_CTX_set_timeout)
#define SSL_CTX_set_tlsext_ticket_key_evp_cb (tls_lib.SSL_CTX_set_tlsext_ticket_key_evp_cb)
#define SSL_CTX_use_PrivateKey_file (tls_lib.SSL_CTX_use_PrivateKey_file)
#define SSL_CTX_use_certificate_chain_file (tls_lib.SSL_CTX_use_certificate_chain_file)
#define SSL_accept (tls_lib.SSL_accept)
#define SSL_free (tls_lib.SSL_free)
#define SSL_get0_alpn_selected (tls_lib.SSL_get0_alpn_selected)
#define SSL_get_SSL_CTX (tls_lib.SSL_get_SSL_CTX)
#define SSL_get_current_cipher (tls_lib.SSL_get_current_cipher)
#define SSL_get_error (tls_lib.SSL_get_error)
#define SSL_get_servername (tls_lib.SSL_get_servername)
#define SSL_get_version (tls_lib.SSL_get_version)
#define SSL_get_wbio (tls_lib.SSL_get_wbio)
#define SSL_has_pending (tls_lib.SSL_has_pending)
#define SSL_in_init (tls_lib.SSL_in_init)
#define SSL_new (tls_lib.SSL_new)
#define SSL_pending (tls_lib.SSL_pending)
#define SSL_read (tls_lib.SSL_read)
#define SSL_select_next_proto (tls_lib.SSL_select_next_proto)
#define SSL_sendfile (tls_lib.SSL_sendfile)
#define SSL_session_reused (tls_lib.SSL_session_reused)
#define SSL_set_SSL_CTX (tls_lib.SSL_set_SSL_CTX)
#define SSL_set_fd (tls_lib.SSL_set_fd)
#define SSL_shutdown (tls_lib.SSL_shutdown)
#define SSL_write (tls_lib.SSL_write)
#define TLS_server_method (tls_lib.TLS_server_method)
#define X509_check_host (tls_lib.X509_check_host)
#define X509_cmp_current_time (tls_lib.X509_cmp_current_time)
#define X509_get0_notAfter (tls_lib.X509_get0_notAfter)
#define X509_get0_notBefore (tls_lib.X509_get0_notBefore)
#define BIO_free (tls_lib.BIO_free)
#define BIO_new (tls_lib.BIO_new)
#define BIO_read (tls_lib.BIO_read)
#define BIO_s_mem (tls_lib.BIO_s_mem)
#define BIO_write (tls_lib.BIO_write)
#define SSL_do_handshake (tls_lib.SSL_do_handshake)
#define SSL_get_rbio (tls_lib.SSL_get_rbio)
#define SSL_set_accept_state (tls_lib.SSL_set_accept_state)
#define SSL_set_bio (tls_lib.SSL_set_bio)
#define SSL_set_connect_state (tls_lib.SSL_set_connect_state)
#define TLS_client_method (tls_lib.TLS_client_method)
#define BIO_get_data (tls_lib.BIO_get_data)
#define BIO_set_data (tls_lib.BIO_set_data)
#define BIO_set_init (tls_lib.BIO_set_init)
#define BIO_set_flags (tls_lib.BIO_set_flags)
#define BIO_clear_flags (tls_lib.BIO_clear_flags)
#define BIO_test_flags (tls_lib.BIO_test_flags)
#define BIO_meth_new (tls_lib.BIO_meth_new)
#define BIO_meth_free (tls_lib.BIO_meth_free)
#define BIO_meth_set_read (tls_lib.BIO_meth_set_read)
#define BIO_meth_set_write (tls_lib.BIO_meth_set_write)
#define BIO_meth_set_ctrl (tls_lib.BIO_meth_set_ctrl)
#define BIO_get_new_index (tls_lib.BIO_get_new_index)
#endif

#endif
