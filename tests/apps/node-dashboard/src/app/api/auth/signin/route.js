// Stands in for Auth.js's sign-in endpoint: the one to rate-limit hard.
export const dynamic = 'force-dynamic';

export function POST() {
  return Response.json({ url: '/' });
}
