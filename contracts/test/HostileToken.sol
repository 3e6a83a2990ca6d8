// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/**
 * @title HostileToken
 * @notice TESTS ONLY. An ERC-20 that misbehaves on purpose so the escrow's defences can be shown on
 * a real chain:
 *  - armed with (target, payload), its next transfer calls `target` with `payload` from inside the
 *    transfer — a re-entrant call into the escrow. With `bubble` the callee's revert is re-thrown
 *    (the outer transaction fails with the escrow's error); without it the revert is recorded and
 *    the transfer completes, so a test can check that nothing extra was paid.
 *  - with `feeBps` it delivers less than asked on every transfer (a fee-on-transfer token).
 *  - `execute` lets the token itself act as a provider or payer of the escrow.
 */
contract HostileToken is ERC20 {
    address public reentryTarget;
    bytes public reentryPayload;
    bool public bubbleRevert;
    uint16 public feeBps;

    bool public reentryAttempted;
    bool public reentrySucceeded;
    bytes public reentryResult;

    constructor() ERC20("Flotilla Hostile Test Token (tests only)", "tHOSTILE") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function arm(address target, bytes calldata payload, bool bubble) external {
        reentryTarget = target;
        reentryPayload = payload;
        bubbleRevert = bubble;
        reentryAttempted = false;
        reentrySucceeded = false;
        delete reentryResult;
    }

    function setFeeBps(uint16 bps) external {
        feeBps = bps;
    }

    /// @notice Calls `target` as this token (e.g. escrow.withdraw(this) for a token-owned credit).
    function execute(address target, bytes calldata payload) external returns (bytes memory) {
        (bool ok, bytes memory ret) = target.call(payload);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    function _update(address from, address to, uint256 value) internal override {
        uint256 fee = from == address(0) ? 0 : (value * feeBps) / 10_000;
        if (fee != 0) super._update(from, address(0), fee); // burned
        super._update(from, to, value - fee);

        address target = reentryTarget;
        if (target == address(0) || from == address(0)) return;
        reentryTarget = address(0); // one shot, so the re-entry cannot recurse
        (bool ok, bytes memory ret) = target.call(reentryPayload);
        reentryAttempted = true;
        reentrySucceeded = ok;
        reentryResult = ret;
        if (!ok && bubbleRevert) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
    }
}
