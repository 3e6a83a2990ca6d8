// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/**
 * @title TestStablecoin
 * @notice LOCAL TESTING ONLY. A 6-decimal ERC-20 standing in for USDC on the local anvil chain.
 * Anyone can mint any amount, so it has no value; production configures a real token address.
 */
contract TestStablecoin is ERC20 {
    constructor() ERC20("Flotilla Test USD (local testing only)", "tUSD") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Unrestricted on purpose: local chains fund payers with it.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
