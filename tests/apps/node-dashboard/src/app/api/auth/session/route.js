// Stands in for Auth.js's session endpoint, which its client polls.
export const dynamic = 'force-dynamic';

export function GET() {
  return Response.json({});
}
