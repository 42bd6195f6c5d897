// The reference app for tests/e2e_next.rs: a self-contained server in
// .next/standalone, as the generated Dockerfile copies it.
const nextConfig = {
  output: 'standalone',
  poweredByHeader: false,
};

export default nextConfig;
