using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Runnel.Metadata.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AccessKeySecurity : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // No release wrote this table; a plain-text secret column is dropped rather than carried over.
            migrationBuilder.DropColumn(
                name: "SecretAccessKey",
                table: "access_keys");

            migrationBuilder.AddColumn<string>(
                name: "EncryptedSecret",
                table: "access_keys",
                type: "TEXT",
                maxLength: 512,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<string>(
                name: "PolicyDocument",
                table: "access_keys",
                type: "TEXT",
                maxLength: 10240,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "UserName",
                table: "access_keys",
                type: "TEXT",
                maxLength: 64,
                nullable: false,
                defaultValue: "");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "EncryptedSecret",
                table: "access_keys");

            migrationBuilder.DropColumn(
                name: "PolicyDocument",
                table: "access_keys");

            migrationBuilder.DropColumn(
                name: "UserName",
                table: "access_keys");

            migrationBuilder.AddColumn<string>(
                name: "SecretAccessKey",
                table: "access_keys",
                type: "TEXT",
                maxLength: 256,
                nullable: false,
                defaultValue: "");
        }
    }
}
