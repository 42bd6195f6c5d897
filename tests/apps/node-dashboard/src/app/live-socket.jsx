'use client';

import { useEffect, useState } from 'react';

// Opens the live-UI WebSocket on the page's own origin and shows the echo
// of a message it sends.
export default function LiveSocket() {
  const [status, setStatus] = useState('connecting');
  useEffect(() => {
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${window.location.host}/ws`);
    ws.onopen = () => ws.send('ping from the page');
    ws.onmessage = (event) => setStatus(`echo: ${event.data}`);
    ws.onerror = () => setStatus('error');
    return () => ws.close();
  }, []);
  return <p id="socket">{status}</p>;
}
