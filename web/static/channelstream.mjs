// channelstream.mjs: the ES module entry of the channelstream-go client
// library. The code lives in channelstream.js, a classic script that defines
// globals (a file cannot be both a classic script and a module); this module
// runs it for its effect and re-exports what it defined:
//
//   import ChannelStreamConnection, { ChannelStreamSigner } from '/static/channelstream.mjs';
//
// The names are upstream's (@channelstream/channelstream): ChannelStreamConnection
// (also the default export) and ChannelStreamSigner, plus ChannelStreamRequest.
import './channelstream.js';

const api = globalThis.ChannelStream;

export const ChannelStreamConnection = api.ChannelStreamConnection;
export const ChannelStreamSigner = api.ChannelStreamSigner;
export const ChannelStreamRequest = api.ChannelStreamRequest;
export default ChannelStreamConnection;
